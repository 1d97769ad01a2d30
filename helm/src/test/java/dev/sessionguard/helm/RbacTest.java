package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The rendered RBAC allows every API call the operator makes, and nothing broad. */
class RbacTest {

  private static final String OPERATOR_SA = "sg-session-guard";
  private static List<ApiCall> calls;

  @BeforeAll
  static void readOperatorApiCalls() {
    Path source = ApiCall.RECORDED;
    assertThat(source)
        .as(
            "the operator's tests record its API calls there: run them first"
                + " (./mvnw -pl operator,helm -am verify)")
        .exists();
    calls = ApiCall.read(source);
    assertThat(calls).as("API calls in %s", source).isNotEmpty();
  }

  @Test
  void cluster_role_allows_every_operator_call_when_all_namespaces_are_watched() {
    Rendered chart = Chart.template("replicaCount: 2\n");
    Authorizer operator = new Authorizer(chart, OPERATOR_SA, Chart.NAMESPACE);

    assertThat(refused(operator, List.of("tools", "any-other-namespace"))).isEmpty();
  }

  @Test
  void namespace_roles_allow_every_operator_call_in_each_watched_namespace() {
    Rendered chart = Chart.template("replicaCount: 2\nwatchNamespaces: [tools, search]\n");
    Authorizer operator = new Authorizer(chart, OPERATOR_SA, Chart.NAMESPACE);

    assertThat(refused(operator, List.of("tools", "search"))).isEmpty();
  }

  @Test
  void namespace_roles_allow_nothing_namespaced_outside_the_watched_namespaces() {
    Rendered chart = Chart.template("replicaCount: 2\nwatchNamespaces: [tools]\n");
    Authorizer operator = new Authorizer(chart, OPERATOR_SA, Chart.NAMESPACE);

    assertThat(calls)
        .filteredOn(call -> !call.clusterScoped() && !call.inOperatorNamespace())
        .noneMatch(call -> operator.allows(call, "kube-system"));
  }

  @Test
  void operator_roles_grant_no_wildcards_no_secrets_and_no_rbac() {
    for (String values : List.of("replicaCount: 2\n", "replicaCount: 2\nwatchNamespaces: [a]\n")) {
      Rendered chart = Chart.template(values);
      Authorizer operator = new Authorizer(chart, OPERATOR_SA, Chart.NAMESPACE);
      List<JsonNode> rules = new ArrayList<>(operator.rules("a"));
      rules.addAll(operator.rules(Chart.NAMESPACE));

      assertThat(rules).isNotEmpty();
      for (JsonNode rule : rules) {
        assertThat(rule.toString()).doesNotContain("\"*\"", "secrets", "rbac.authorization.k8s.io");
      }
    }
  }

  /**
   * What the roles grant beyond the calls recorded: what the operator framework may do on paths the
   * tests do not take (re-reading a policy after a conflict, finalizer and status writes by update,
   * an owned object deleted when its condition turns false).
   */
  private static final Set<String> FRAMEWORK =
      Set.of(
          "get sessionguard.dev sessionpolicies",
          "update sessionguard.dev sessionpolicies",
          "get sessionguard.dev sessionpolicies/status",
          "update sessionguard.dev sessionpolicies/status",
          "update sessionguard.dev sessionpolicies/finalizers",
          "get \"\" configmaps",
          "patch \"\" configmaps",
          "delete \"\" configmaps",
          "get \"\" services",
          "patch \"\" services",
          "get networking.k8s.io networkpolicies",
          "update networking.k8s.io networkpolicies",
          "patch networking.k8s.io networkpolicies");

  @Test
  void namespaced_roles_grant_only_what_the_operator_calls_or_its_framework_may() {
    Rendered chart = Chart.template("replicaCount: 2\nwatchNamespaces: [tools]\n");
    Authorizer operator = new Authorizer(chart, OPERATOR_SA, Chart.NAMESPACE);
    Set<String> recorded = new HashSet<>();
    calls.forEach(call -> recorded.add(call.toString()));
    List<String> extra = new ArrayList<>();
    for (JsonNode rule : operator.rules("tools")) {
      for (JsonNode group : rule.path("apiGroups")) {
        for (JsonNode resource : rule.path("resources")) {
          for (JsonNode verb : rule.path("verbs")) {
            String granted =
                new ApiCall(verb.asText(), group.asText(), resource.asText()).toString();
            if (!recorded.contains(granted) && !FRAMEWORK.contains(granted)) {
              extra.add(granted);
            }
          }
        }
      }
    }
    assertThat(extra).isEmpty();
  }

  @Test
  void the_deployment_runs_as_the_bound_service_account() {
    Rendered chart = Chart.template("");

    assertThat(chart.operator().at("/spec/template/spec/serviceAccountName").asText())
        .isEqualTo(OPERATOR_SA);
    assertThat(chart.get("ServiceAccount", OPERATOR_SA).at("/metadata/namespace").asText())
        .isEqualTo(Chart.NAMESPACE);
  }

  @Test
  void an_existing_service_account_gets_the_bindings_when_the_chart_creates_none() {
    Rendered chart = Chart.template("serviceAccount: {create: false, name: platform-operator}\n");
    Authorizer operator = new Authorizer(chart, "platform-operator", Chart.NAMESPACE);

    assertThat(chart.ofKind("ServiceAccount")).isEmpty();
    assertThat(operator.allows(ApiCall.parse("watch sessionguard.dev sessionpolicies"), "x"))
        .isTrue();
  }

  @Test
  void uninstall_hook_may_list_wait_for_and_delete_session_policies_everywhere_it_looks() {
    for (String values : List.of("", "watchNamespaces: [tools]\n")) {
      Rendered chart = Chart.templateWithHooks(values);
      Authorizer hook = new Authorizer(chart, "sg-session-guard-uninstall", Chart.NAMESPACE);

      for (String verb : List.of("list", "watch", "get", "delete")) {
        assertThat(hook.allows(new ApiCall(verb, "sessionguard.dev", "sessionpolicies"), "tools"))
            .as("%s sessionpolicies with %s", verb, values)
            .isTrue();
      }
    }
  }

  /** The calls refused in any of these namespaces, each with where it was refused. */
  private static List<String> refused(Authorizer operator, List<String> watched) {
    List<String> refused = new ArrayList<>();
    for (ApiCall call : calls) {
      if (call.clusterScoped()) {
        if (!operator.allows(call, null)) {
          refused.add(call + " (cluster-wide)");
        }
      } else if (call.inOperatorNamespace()) {
        if (!operator.allows(call, Chart.NAMESPACE)) {
          refused.add(call + " in " + Chart.NAMESPACE);
        }
      } else {
        for (String namespace : watched) {
          if (!operator.allows(call, namespace)) {
            refused.add(call + " in " + namespace);
          }
        }
      }
    }
    return refused;
  }
}
