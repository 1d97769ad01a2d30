package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.marcnuri.helm.LintResult;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code helm lint} and {@code helm template}, with the defaults and with each option on. */
class ChartRenderTest {

  @Test
  void lint_passes_in_strict_mode() {
    LintResult lint = Chart.lint();

    assertThat(lint.isFailed()).as("%s", lint.getMessages()).isFalse();
    assertThat(lint.getMessages())
        .as("only informational messages")
        .allMatch(m -> m.startsWith("[INFO]"));
  }

  @Test
  void renders_operator_rbac_and_metrics_service_with_defaults() {
    Rendered chart = Chart.template("");

    assertThat(chart.objects())
        .extracting(o -> o.path("kind").asText() + "/" + Rendered.name(o))
        .containsExactlyInAnyOrder(
            "ServiceAccount/sg-session-guard",
            "Deployment/sg-session-guard",
            "Service/sg-session-guard-metrics",
            "ClusterRole/sg-session-guard-crds",
            "ClusterRoleBinding/sg-session-guard-crds",
            "ClusterRole/sg-session-guard",
            "ClusterRoleBinding/sg-session-guard",
            "ClusterRole/sg-session-guard-view",
            "ClusterRole/sg-session-guard-edit");
    assertThat(chart.operator().at("/spec/replicas").asInt()).isEqualTo(1);
    assertThat(chart.operator().at("/spec/template/spec/containers/0/image").asText())
        .isEqualTo("ghcr.io/sessionguard/session-guard-operator:0.1.0");
    assertThat(chart.operatorEnv("WATCH_NAMESPACES")).isEmpty();
    assertThat(chart.operatorEnv("LEADER_ELECTION_ENABLED")).isEqualTo("false");
    assertThat(chart.operatorEnv("LEADER_ELECTION_NAMESPACE")).isEqualTo(Chart.NAMESPACE);
    assertThat(chart.operatorEnv("MANAGEMENT_PORT")).isEqualTo("8080");
    assertThat(chart.operatorEnv("MONITORING_NAMESPACE")).isEqualTo("monitoring");
  }

  @Test
  void passes_the_guard_image_and_default_resources_to_the_operator() {
    Rendered chart = Chart.template("");

    assertThat(chart.operatorEnv("GUARD_IMAGE"))
        .isEqualTo("ghcr.io/sessionguard/session-guard-sidecar:0.1.0");
    assertThat(chart.operatorEnv("GUARD_CPU_REQUEST")).isEqualTo("100m");
    assertThat(chart.operatorEnv("GUARD_MEMORY_REQUEST")).isEqualTo("192Mi");
    assertThat(chart.operatorEnv("GUARD_CPU_LIMIT")).isEqualTo("1");
    assertThat(chart.operatorEnv("GUARD_MEMORY_LIMIT")).isEqualTo("384Mi");
  }

  @Test
  void passes_overridden_guard_image_and_resources_and_empty_for_those_left_out() {
    Rendered chart =
        Chart.template(
            """
            guard:
              image: {repository: registry.example.com/guard, tag: "1.2.3"}
              resources:
                requests: {cpu: 250m, memory: 300Mi}
                limits: null # Helm's way to drop a default
            """);

    assertThat(chart.operatorEnv("GUARD_IMAGE")).isEqualTo("registry.example.com/guard:1.2.3");
    assertThat(chart.operatorEnv("GUARD_CPU_REQUEST")).isEqualTo("250m");
    assertThat(chart.operatorEnv("GUARD_MEMORY_REQUEST")).isEqualTo("300Mi");
    assertThat(chart.operatorEnv("GUARD_CPU_LIMIT")).isEmpty();
    assertThat(chart.operatorEnv("GUARD_MEMORY_LIMIT")).isEmpty();
  }

  @Test
  void passes_the_guards_user_or_none_for_platforms_that_assign_one() {
    assertThat(Chart.template("").operatorEnv("GUARD_RUN_AS_USER")).isEqualTo("65532");
    assertThat(Chart.template("guard: {runAsUser: 1000680000}\n").operatorEnv("GUARD_RUN_AS_USER"))
        .isEqualTo("1000680000");
    assertThat(Chart.template("guard: {runAsUser: null}\n").operatorEnv("GUARD_RUN_AS_USER"))
        .isEmpty();
  }

  @Test
  void downward_api_names_the_pod_and_its_namespace() {
    JsonNode env = Chart.template("").operator().at("/spec/template/spec/containers/0/env");

    assertThat(env.toString())
        .contains(
            "{\"name\":\"POD_NAME\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.name\"}}}",
            "{\"name\":\"POD_NAMESPACE\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
                + "\"metadata.namespace\"}}}");
  }

  @Test
  void probes_ask_the_management_port_for_health_and_readiness() {
    JsonNode container = Chart.template("").operator().at("/spec/template/spec/containers/0");

    assertThat(container.at("/ports/0/name").asText()).isEqualTo("management");
    assertThat(container.at("/ports/0/containerPort").asInt()).isEqualTo(8080);
    assertThat(container.at("/livenessProbe/httpGet/path").asText()).isEqualTo("/healthz");
    assertThat(container.at("/readinessProbe/httpGet/path").asText()).isEqualTo("/readyz");
    assertThat(container.at("/livenessProbe/httpGet/port").asText()).isEqualTo("management");
  }

  @Test
  void two_replicas_turn_on_leader_election_with_a_lease_role_in_the_release_namespace() {
    Rendered chart = Chart.template("replicaCount: 2\n");

    assertThat(chart.operator().at("/spec/replicas").asInt()).isEqualTo(2);
    assertThat(chart.operatorEnv("LEADER_ELECTION_ENABLED")).isEqualTo("true");
    ObjectNode role = chart.get("Role", "sg-session-guard-leader-election");
    assertThat(role.at("/metadata/namespace").asText()).isEqualTo(Chart.NAMESPACE);
    assertThat(role.at("/rules/0/resources/0").asText()).isEqualTo("leases");
    assertThat(chart.find("RoleBinding", "sg-session-guard-leader-election")).isPresent();
    // the Lease every release has used (an upgrade keeps it: old and new replicas elect on one),
    // and the Lease rule allows that one only
    assertThat(chart.operatorEnv("LEADER_ELECTION_LEASE_NAME")).isEqualTo("session-guard-operator");
    assertLeaseRule(role, "session-guard-operator");
    // two releases in one namespace: one each
    Rendered teamA = Chart.template("replicaCount: 2\nleaseName: team-a-session-guard\n");
    assertThat(teamA.operatorEnv("LEADER_ELECTION_LEASE_NAME")).isEqualTo("team-a-session-guard");
    assertLeaseRule(teamA.get("Role", "sg-session-guard-leader-election"), "team-a-session-guard");
  }

  private static void assertLeaseRule(ObjectNode role, String lease) {
    assertThat(role.path("rules"))
        .filteredOn(r -> r.has("resourceNames"))
        .singleElement()
        .satisfies(
            r -> {
              assertThat(Rendered.texts(r.path("resourceNames"))).containsExactly(lease);
              assertThat(Rendered.texts(r.path("verbs"))).doesNotContain("create");
            });
  }

  @Test
  void one_replica_has_no_leader_election_and_no_lease_access() {
    Rendered chart = Chart.template("replicaCount: 1\n");

    assertThat(chart.ofKind("Role")).isEmpty();
  }

  @Test
  void a_single_operator_is_replaced_not_rolled_so_two_never_reconcile_at_once() {
    assertThat(Chart.template("").operator().at("/spec/strategy/type").asText())
        .isEqualTo("Recreate");
    assertThat(Chart.template("replicaCount: 2\n").operator().at("/spec/strategy").isMissingNode())
        .as("with leader election, a rolling update hands over the lease")
        .isTrue();
  }

  @Test
  void watched_namespaces_get_a_role_each_and_no_cluster_wide_access_to_workloads() {
    Rendered chart = Chart.template("watchNamespaces: [tools, search]\n");

    assertThat(chart.operatorEnv("WATCH_NAMESPACES")).isEqualTo("tools,search");
    assertThat(chart.ofKind("Role"))
        .extracting(r -> r.at("/metadata/namespace").asText())
        .containsExactlyInAnyOrder("tools", "search");
    assertThat(chart.ofKind("RoleBinding"))
        .extracting(r -> r.at("/metadata/namespace").asText())
        .containsExactlyInAnyOrder("tools", "search");
    assertThat(chart.find("ClusterRole", "sg-session-guard")).isEmpty();
    assertThat(chart.find("ClusterRoleBinding", "sg-session-guard")).isEmpty();
    assertThat(chart.get("ClusterRole", "sg-session-guard-crds").at("/rules").toString())
        .as("only reading CRDs and asking its own rules stay cluster-wide")
        .isEqualTo(
            "[{\"apiGroups\":[\"apiextensions.k8s.io\"],"
                + "\"resources\":[\"customresourcedefinitions\"],\"verbs\":[\"get\"]},"
                + "{\"apiGroups\":[\"authorization.k8s.io\"],"
                + "\"resources\":[\"selfsubjectrulesreviews\"],\"verbs\":[\"create\"]}]");
  }

  @Test
  void aggregated_roles_let_view_read_and_edit_write_session_policies() {
    Rendered chart = Chart.template("");

    ObjectNode view = chart.get("ClusterRole", "sg-session-guard-view");
    assertThat(view.at("/metadata/labels/rbac.authorization.k8s.io~1aggregate-to-view").asText())
        .isEqualTo("true");
    assertThat(Rendered.texts(view.at("/rules/0/verbs"))).containsExactly("get", "list", "watch");
    ObjectNode edit = chart.get("ClusterRole", "sg-session-guard-edit");
    assertThat(edit.at("/metadata/labels/rbac.authorization.k8s.io~1aggregate-to-edit").asText())
        .isEqualTo("true");
    assertThat(Rendered.texts(edit.at("/rules/0/verbs"))).contains("create", "update", "delete");
    assertThat(Rendered.texts(edit.at("/rules/0/resources"))).containsExactly("sessionpolicies");
  }

  @Test
  void service_monitor_scrapes_the_metrics_service_and_a_pod_monitor_the_guards() {
    Rendered chart =
        Chart.template(
            """
            serviceMonitor:
              enabled: true
              labels: {release: kube-prometheus-stack}
            """);

    ObjectNode monitor = chart.get("ServiceMonitor", "sg-session-guard");
    ObjectNode service = chart.get("Service", "sg-session-guard-metrics");
    JsonNode selector = monitor.at("/spec/selector/matchLabels");
    for (Map.Entry<String, JsonNode> label : selector.properties()) {
      assertThat(service.at("/metadata/labels").path(label.getKey()).asText())
          .as("metrics Service label %s", label.getKey())
          .isEqualTo(label.getValue().asText());
    }
    assertThat(monitor.at("/spec/endpoints/0/port").asText())
        .isEqualTo(service.at("/spec/ports/0/name").asText());
    assertThat(monitor.at("/metadata/labels/release").asText()).isEqualTo("kube-prometheus-stack");

    ObjectNode guards = chart.get("PodMonitor", "sg-session-guard-guards");
    assertThat(guards.at("/spec/namespaceSelector/any").asBoolean()).isTrue();
    assertThat(guards.at("/spec/podMetricsEndpoints/0/port").asText()).isEqualTo("guard-admin");
    assertThat(guards.at("/spec/podMetricsEndpoints/0/path").asText()).isEqualTo("/metrics");
  }

  @Test
  void guard_pod_monitor_looks_only_in_watched_namespaces() {
    Rendered chart = Chart.template("serviceMonitor: {enabled: true}\nwatchNamespaces: [tools]\n");

    assertThat(
            Rendered.texts(
                chart
                    .get("PodMonitor", "sg-session-guard-guards")
                    .at("/spec/namespaceSelector/matchNames")))
        .containsExactly("tools");
  }

  @Test
  void dashboard_is_a_config_map_grafana_loads_holding_the_chart_dashboard() throws Exception {
    Rendered chart =
        Chart.template("dashboard: {enabled: true, namespace: monitoring}\nreplicaCount: 1\n");

    ObjectNode map = chart.get("ConfigMap", "sg-session-guard-dashboard");
    assertThat(map.at("/metadata/namespace").asText()).isEqualTo("monitoring");
    assertThat(map.at("/metadata/labels/grafana_dashboard").asText()).isEqualTo("1");
    ObjectMapper json = new ObjectMapper();
    assertThat(json.readTree(map.at("/data/session-guard.json").asText()))
        .isEqualTo(json.readTree(Chart.DIR.resolve("dashboards/session-guard.json").toFile()));
  }

  @Test
  void operator_selectors_match_its_own_pods_only_not_the_hook_or_test_pods() {
    Rendered chart = Chart.templateWithHooks("");
    JsonNode deploymentSelector = chart.operator().at("/spec/selector/matchLabels");
    JsonNode serviceSelector =
        chart.get("Service", "sg-session-guard-metrics").at("/spec/selector");

    for (Rendered.PodSpec pod : chart.podSpecs()) {
      ObjectNode owner = chart.get(pod.owner().split(" ")[0], pod.owner().split(" ")[1]);
      JsonNode labels =
          owner.path("kind").asText().equals("Pod")
              ? owner.at("/metadata/labels")
              : owner.at("/spec/template/metadata/labels");
      boolean operator = owner == chart.operator();
      assertThat(selects(deploymentSelector, labels)).as(pod.owner()).isEqualTo(operator);
      assertThat(selects(serviceSelector, labels)).as(pod.owner()).isEqualTo(operator);
    }
  }

  private static boolean selects(JsonNode selector, JsonNode labels) {
    for (Map.Entry<String, JsonNode> label : selector.properties()) {
      if (!labels.path(label.getKey()).asText().equals(label.getValue().asText())) {
        return false;
      }
    }
    return true;
  }

  @Test
  void options_are_off_by_default() {
    Rendered chart = Chart.template("");

    assertThat(chart.ofKind("ServiceMonitor")).isEmpty();
    assertThat(chart.ofKind("PodMonitor")).isEmpty();
    assertThat(chart.ofKind("ConfigMap")).isEmpty();
    // one replica: a budget would block every node drain
    assertThat(chart.ofKind("PodDisruptionBudget")).isEmpty();
  }

  @Test
  void two_replicas_get_a_disruption_budget_keeping_one_operator_up() {
    Rendered chart = Chart.template("replicaCount: 2\n");

    ObjectNode pdb = chart.get("PodDisruptionBudget", "sg-session-guard");
    assertThat(pdb.at("/spec/minAvailable").asInt()).isEqualTo(1);
    assertThat(pdb.at("/spec/unhealthyPodEvictionPolicy").asText()).isEqualTo("AlwaysAllow");
    assertThat(pdb.at("/spec/selector/matchLabels"))
        .isEqualTo(chart.operator().at("/spec/selector/matchLabels"));
    assertThat(
            Chart.template("replicaCount: 2\npodDisruptionBudget: {enabled: false}\n")
                .ofKind("PodDisruptionBudget"))
        .isEmpty();
  }

  @Test
  void every_option_on_at_once_renders() {
    Rendered chart =
        Chart.template(
            """
            replicaCount: 2
            watchNamespaces: [tools, search]
            serviceMonitor: {enabled: true}
            dashboard: {enabled: true}
            imagePullSecrets: [{name: regcred}]
            nodeSelector: {kubernetes.io/os: linux}
            tolerations: [{key: dedicated, operator: Equal, value: mcp, effect: NoSchedule}]
            affinity:
              podAntiAffinity:
                preferredDuringSchedulingIgnoredDuringExecution:
                  - weight: 100
                    podAffinityTerm:
                      topologyKey: kubernetes.io/hostname
                      labelSelector:
                        matchLabels: {app.kubernetes.io/name: session-guard}
            priorityClassName: system-cluster-critical
            topologySpreadConstraints:
              - maxSkew: 1
                topologyKey: topology.kubernetes.io/zone
                whenUnsatisfiable: ScheduleAnyway
                labelSelector:
                  matchLabels: {app.kubernetes.io/component: operator}
            """);

    JsonNode pod = chart.operator().at("/spec/template/spec");
    assertThat(pod.at("/imagePullSecrets/0/name").asText()).isEqualTo("regcred");
    assertThat(pod.at("/nodeSelector/kubernetes.io~1os").asText()).isEqualTo("linux");
    assertThat(pod.at("/tolerations/0/key").asText()).isEqualTo("dedicated");
    assertThat(pod.has("affinity")).isTrue();
    assertThat(pod.at("/priorityClassName").asText()).isEqualTo("system-cluster-critical");
    assertThat(pod.at("/topologySpreadConstraints/0/topologyKey").asText())
        .isEqualTo("topology.kubernetes.io/zone");
    assertThat(chart.ofKind("ServiceMonitor")).hasSize(1);
    assertThat(chart.ofKind("ConfigMap")).hasSize(1);
  }

  @Test
  void uninstall_hook_deletes_every_session_policy_before_the_operator_goes() {
    Rendered chart = Chart.templateWithHooks("");

    ObjectNode job = chart.get("Job", "sg-session-guard-uninstall");
    assertThat(job.at("/metadata/annotations").path(Chart.RENDERED_HOOK).asText())
        .isEqualTo("pre-delete");
    JsonNode container = job.at("/spec/template/spec/containers/0");
    assertThat(Rendered.texts(container.path("command")))
        .containsSubsequence("kubectl", "delete", "sessionpolicies.sessionguard.dev", "--all")
        .contains("--all-namespaces", "--wait=true", "--timeout=5m");
    assertThat(job.at("/spec/template/spec/serviceAccountName").asText())
        .isEqualTo("sg-session-guard-uninstall");
    // The hook's own RBAC is created before the Job (lower weight), also as a hook.
    for (String kind : List.of("ServiceAccount", "ClusterRole", "ClusterRoleBinding")) {
      ObjectNode object = chart.get(kind, "sg-session-guard-uninstall");
      assertThat(object.at("/metadata/annotations").path(Chart.RENDERED_HOOK).asText())
          .isEqualTo("pre-delete");
      assertThat(object.at("/metadata/annotations").path(Chart.RENDERED_HOOK + "-weight").asInt())
          .isLessThan(
              job.at("/metadata/annotations").path(Chart.RENDERED_HOOK + "-weight").asInt());
    }
  }

  @Test
  void uninstall_hook_deletes_policies_in_each_watched_namespace_only() {
    Rendered chart = Chart.templateWithHooks("watchNamespaces: [tools, search]\n");

    JsonNode containers =
        chart.get("Job", "sg-session-guard-uninstall").at("/spec/template/spec/containers");
    assertThat(containers).hasSize(2);
    assertThat(Rendered.texts(containers.get(0).path("command"))).contains("--namespace=tools");
    assertThat(Rendered.texts(containers.get(1).path("command"))).contains("--namespace=search");
    assertThat(chart.find("ClusterRole", "sg-session-guard-uninstall")).isEmpty();
    assertThat(chart.ofKind("Role"))
        .filteredOn(r -> Rendered.name(r).equals("sg-session-guard-uninstall"))
        .extracting(r -> r.at("/metadata/namespace").asText())
        .containsExactlyInAnyOrder("tools", "search");
  }

  /**
   * The hook's objects are deleted before they are made again (before-hook-creation) and after the
   * hook succeeds: one named as an object of the release would take the operator's own
   * ServiceAccount or RBAC with it. Full names of 62 and 63 characters once cut the suffix off.
   */
  @Test
  void uninstall_hook_objects_never_take_the_name_of_an_object_of_the_release() {
    for (String values :
        List.of(
            "fullnameOverride: " + "a".repeat(63) + "\n",
            "fullnameOverride: " + "a".repeat(62) + "\n",
            "fullnameOverride: " + "a".repeat(62) + "\nwatchNamespaces: [tools]\n")) {
      Rendered chart = Chart.templateWithHooks(values);
      List<ObjectNode> hooks =
          chart.objects().stream()
              .filter(o -> o.at("/metadata/annotations").has(Chart.RENDERED_HOOK))
              .filter(o -> Rendered.name(o).endsWith("-uninstall"))
              .toList();
      assertThat(hooks).as(values).isNotEmpty();
      for (ObjectNode hook : hooks) {
        assertThat(chart.objects())
            .as(values)
            .filteredOn(o -> !o.at("/metadata/annotations").has(Chart.RENDERED_HOOK))
            .noneMatch(
                o ->
                    o.path("kind").equals(hook.path("kind"))
                        && Rendered.name(o).equals(Rendered.name(hook)));
        assertThat(Rendered.name(hook).length()).isLessThanOrEqualTo(63);
      }
    }
  }

  @Test
  void uninstall_hook_can_be_turned_off() {
    Rendered chart = Chart.templateWithHooks("uninstall: {deletePolicies: false}\n");

    assertThat(chart.find("Job", "sg-session-guard-uninstall")).isEmpty();
  }

  @Test
  void helm_test_pod_asks_the_operator_health_endpoint_through_the_metrics_service() {
    Rendered chart = Chart.templateWithHooks("");

    ObjectNode pod = chart.get("Pod", "sg-session-guard-test-healthz");
    assertThat(pod.at("/metadata/annotations").path(Chart.RENDERED_HOOK).asText())
        .isEqualTo("test");
    assertThat(Rendered.texts(pod.at("/spec/containers/0/command")))
        .contains("http://sg-session-guard-metrics.session-guard.svc:8080/healthz");
  }

  @Test
  void notes_tell_how_to_apply_a_first_policy_and_watch_it_become_ready() {
    assertThat(Chart.notes(""))
        .contains("kind: SessionPolicy", "mode: DryRun")
        .contains("kubectl -n default wait --for=condition=Ready sessionpolicy/my-mcp")
        .contains("helm test sg -n session-guard")
        .contains("every namespace");
    assertThat(Chart.notes("watchNamespaces: [tools]\nserviceMonitor: {enabled: true}\n"))
        .contains("kubectl -n tools wait --for=condition=Ready")
        .contains("SessionPolicies in tools")
        .contains("ServiceMonitor");
  }

  @Test
  void notes_warn_while_an_image_repository_is_the_unpublished_default() {
    assertThat(Chart.notes(""))
        .contains("WARNING: image.repository is still ghcr.io/sessionguard/session-guard-operator")
        .contains("WARNING: guard.image.repository is still");
    assertThat(Chart.notes("image: {repository: registry.example/sg-operator}\n"))
        .doesNotContain("WARNING: image.repository")
        .contains("WARNING: guard.image.repository");
    assertThat(
            Chart.notes(
                "image: {repository: registry.example/sg-operator}\n"
                    + "guard: {image: {repository: registry.example/sg-guard}}\n"))
        .doesNotContain("WARNING");
  }

  @Test
  void guard_resources_take_cpu_and_memory_only_as_the_operator_passes_no_other() {
    assertThatThrownBy(
            () -> Chart.template("guard: {resources: {limits: {ephemeral-storage: 1Gi}}}\n"))
        .hasMessageContaining("ephemeral-storage");
  }
}
