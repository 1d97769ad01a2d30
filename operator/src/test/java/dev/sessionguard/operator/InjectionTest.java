package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinitionBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetStatusBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSetUpdateStrategy;
import java.time.Duration;
import java.util.Map;
import java.util.function.Consumer;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class InjectionTest {
  static final String NS = "tools";
  static final Duration WAIT = Duration.ofSeconds(20);

  MockCluster cluster;
  RunningOperator running;

  @BeforeEach
  void start() {
    // a status or template not written yet reads as null: keep waiting, do not fail
    Awaitility.ignoreExceptionsByDefault();
    cluster = new MockCluster();
  }

  void startOperator() {
    running = new RunningOperator(cluster, Map.of(), null).start();
  }

  @AfterEach
  void stop() {
    if (running != null) {
      running.close();
    }
    cluster.close();
    Awaitility.reset();
  }

  Deployment deployment(String name) {
    return cluster.client.apps().deployments().inNamespace(NS).withName(name).get();
  }

  SessionPolicy policy(String name) {
    return cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName(name).get();
  }

  Condition condition(String policy, String type) {
    var p = policy(policy);
    return p == null || p.getStatus() == null
        ? null
        : Conditions.find(p.getStatus().conditions, type);
  }

  static Container guard(PodTemplateSpec template) {
    return template.getSpec().getContainers().stream()
        .filter(c -> c.getName().equals("session-guard"))
        .findFirst()
        .orElse(null);
  }

  void awaitInjected(String deployment) {
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> assertThat(guard(deployment(deployment).getSpec().getTemplate())).isNotNull());
  }

  /** Waits until the policy's Ready is False, RollingOut, saying each of {@code message}. */
  void awaitRollingOut(String policy, String... message) {
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var ready = condition(policy, "Ready");
              assertThat(ready.status).isEqualTo("False");
              assertThat(ready.reason).isEqualTo("RollingOut");
              assertThat(ready.message).contains(message);
            });
  }

  /** The operator running and Deployment "vmcp" guarded by policy "p". */
  void guardedVmcp() {
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
  }

  /** Edits vmcp's pod spec as a user would (retried on a conflict with the operator). */
  void editVmcpPodSpec(Consumer<PodSpec> change) {
    cluster.edit(
        Deployment.class,
        NS,
        "vmcp",
        d -> {
          change.accept(d.getSpec().getTemplate().getSpec());
          return d;
        });
  }

  /** Deletes policy "p" and waits until it is gone (its finalizer has run). */
  void deletePolicyP() {
    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("p").delete();
    await().atMost(WAIT).until(() -> policy("p") == null);
  }

  long deploymentWrites(String name) {
    return cluster.count(MockCluster.writesTo("/deployments/" + name));
  }

  @Test
  void the_guard_joins_a_deployment_once_and_leaves_its_containers_alone() {
    startOperator();
    var before = cluster.deployment(NS, "vmcp", 2);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    await()
        .atMost(WAIT)
        .untilAsserted(
            () ->
                assertThat(condition("p", "Injected")).extracting(c -> c.status).isEqualTo("True"));

    var template = deployment("vmcp").getSpec().getTemplate();
    assertThat(template.getSpec().getContainers()).hasSize(2);
    assertThat(template.getSpec().getContainers().get(0))
        .isEqualTo(before.getSpec().getTemplate().getSpec().getContainers().get(0));
    var guard = guard(template);
    assertThat(guard.getImage()).isEqualTo(OperatorSettings.DEFAULT_GUARD_IMAGE);
    assertThat(guard.getArgs()).containsExactly("--policy", "/etc/session-guard/policy.json");
    assertThat(guard.getPorts())
        .extracting(p -> p.getName() + ":" + p.getContainerPort())
        .containsExactly("guard:4484", "guard-admin:9484");
    assertThat(guard.getVolumeMounts())
        .filteredOn(m -> m.getName().equals("session-guard-policy"))
        .singleElement()
        .satisfies(
            m -> {
              assertThat(m.getMountPath()).isEqualTo("/etc/session-guard");
              assertThat(m.getReadOnly()).isTrue();
              assertThat(m.getSubPath()).isNull();
            });
    assertThat(guard.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
    assertThat(guard.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
    assertThat(guard.getLifecycle().getPreStop().getSleep().getSeconds()).isEqualTo(5L);
    assertThat(guard.getResources().getLimits().get("memory").toString()).isEqualTo("256Mi");
    var security = guard.getSecurityContext();
    assertThat(security.getRunAsNonRoot()).isTrue();
    assertThat(security.getRunAsUser()).isEqualTo(65532L);
    assertThat(security.getReadOnlyRootFilesystem()).isTrue();
    assertThat(security.getAllowPrivilegeEscalation()).isFalse();
    assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
    assertThat(security.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
    assertThat(template.getSpec().getVolumes())
        .extracting(v -> v.getName())
        .containsExactly("session-guard-policy", "session-guard-tmp");
    assertThat(template.getSpec().getVolumes().get(0).getConfigMap().getName())
        .isEqualTo("p-session-guard");
    // preStop 5s + drainDelay 5s + drain 20s + 5s margin
    assertThat(template.getSpec().getTerminationGracePeriodSeconds()).isEqualTo(35L);
    assertThat(template.getMetadata().getAnnotations())
        .containsEntry("sessionguard.dev/grace-period-raised", "from 30 to 35");
    assertThat(template.getMetadata().getLabels())
        .containsEntry("sessionguard.dev/guarded-by", "p");
    assertThat(deployment("vmcp").getMetadata().getOwnerReferences()).isEmpty();

    // reconciles keep coming (not Ready: no pods); none writes the Deployment again
    long writes = deploymentWrites("vmcp");
    double reconciles = running.reconciles();
    await().atMost(WAIT).until(() -> running.reconciledPast(reconciles + 2));
    assertThat(deploymentWrites("vmcp")).isEqualTo(writes).isEqualTo(1);
  }

  @Test
  void a_statefulset_gets_the_guard_too() {
    startOperator();
    cluster.statefulSet(NS, "db", 1);
    var p = MockCluster.policy(NS, "s", "db");
    p.getSpec().targetRef = new TargetRef("apps/v1", "StatefulSet", "db");
    cluster.client.resource(p).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () ->
                assertThat(
                        guard(
                            cluster
                                .client
                                .apps()
                                .statefulSets()
                                .inNamespace(NS)
                                .withName("db")
                                .get()
                                .getSpec()
                                .getTemplate()))
                    .isNotNull());
  }

  @Test
  void a_limit_change_leaves_the_pod_template_alone_and_a_port_change_updates_it() {
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    var template = deployment("vmcp").getSpec().getTemplate();

    cluster.editPolicy(NS, "p", s -> s.getSpec().sessions.max = 50);
    await()
        .atMost(WAIT)
        .untilAsserted(() -> assertThat(policy("p").getStatus().observedGeneration).isEqualTo(2L));
    assertThat(deployment("vmcp").getSpec().getTemplate()).isEqualTo(template);
    assertThat(deploymentWrites("vmcp")).isEqualTo(1);

    cluster.editPolicy(NS, "p", s -> s.getSpec().guard.port = 5000);
    await()
        .atMost(WAIT)
        .untilAsserted(
            () ->
                assertThat(
                        guard(deployment("vmcp").getSpec().getTemplate())
                            .getPorts()
                            .get(0)
                            .getContainerPort())
                    .isEqualTo(5000));
    assertThat(guard(deployment("vmcp").getSpec().getTemplate()).getPorts()).hasSize(2);
  }

  @Test
  void a_change_to_what_the_guard_reads_only_at_start_rolls_the_pods() {
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    var before = startSettings();
    assertThat(before).hasSize(16);
    // the guard learns what its pod was made for from the annotation
    assertThat(guard(deployment("vmcp").getSpec().getTemplate()).getEnv())
        .filteredOn(e -> e.getName().equals("SESSIONGUARD_START_SETTINGS"))
        .singleElement()
        .satisfies(
            e ->
                assertThat(e.getValueFrom().getFieldRef().getFieldPath())
                    .isEqualTo("metadata.annotations['sessionguard.dev/start-settings']"));

    // the store is chosen when the guard starts: a reload cannot switch it
    cluster.editPolicy(
        NS,
        "p",
        s -> {
          s.getSpec().store.type = SessionPolicySpec.StoreType.Redis;
          s.getSpec().store.redis = new SessionPolicySpec.Redis();
          s.getSpec().store.redis.url = "redis://redis.tools:6379";
        });
    await().atMost(WAIT).untilAsserted(() -> assertThat(startSettings()).isNotEqualTo(before));
    var redis = startSettings();
    cluster.editPolicy(NS, "p", s -> s.getSpec().timeouts.connect = "5s");
    await().atMost(WAIT).untilAsserted(() -> assertThat(startSettings()).isNotEqualTo(redis));

    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("p").delete();
    await().atMost(WAIT).until(() -> policy("p") == null);
    assertThat(deployment("vmcp").getSpec().getTemplate().getMetadata().getAnnotations())
        .doesNotContainKey(PodTemplates.START_SETTINGS);
  }

  /** The policy "v" on the VirtualMCPServer "vmcp" (ToolHive's v1beta1). */
  static SessionPolicy vmcpPolicy() {
    var p = MockCluster.policy(NS, "v", "vmcp");
    p.getSpec().targetRef =
        new TargetRef("toolhive.stacklok.dev/v1beta1", "VirtualMCPServer", "vmcp");
    return p;
  }

  String startSettings() {
    return deployment("vmcp")
        .getSpec()
        .getTemplate()
        .getMetadata()
        .getAnnotations()
        .get(PodTemplates.START_SETTINGS);
  }

  @Test
  void a_conflicting_write_to_the_target_is_retried_from_a_fresh_read() {
    cluster
        .server
        .expect()
        .put()
        .withPath("/apis/apps/v1/namespaces/tools/deployments/vmcp")
        .andReturn(409, MockCluster.status(409, "Conflict", "conflict"))
        .once();
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    assertThat(cluster.count(s -> s.operator() && s.method().equals("PUT") && s.status() == 409))
        .isEqualTo(1);
    assertThat(deployment("vmcp").getSpec().getTemplate().getSpec().getContainers())
        .extracting(Container::getName)
        .containsExactly("mcp", "session-guard");
  }

  @Test
  void a_guard_removed_by_hand_comes_back() {
    guardedVmcp();
    editVmcpPodSpec(
        spec -> spec.getContainers().removeIf(c -> c.getName().equals("session-guard")));
    awaitInjected("vmcp");
    assertThat(deployment("vmcp").getSpec().getTemplate().getSpec().getContainers()).hasSize(2);
  }

  @Test
  void deleting_the_policy_takes_the_guard_out() {
    guardedVmcp();
    deletePolicyP();
    var template = deployment("vmcp").getSpec().getTemplate();
    assertThat(template.getSpec().getContainers())
        .extracting(Container::getName)
        .containsExactly("mcp");
    assertThat(template.getSpec().getVolumes()).isEmpty();
    assertThat(template.getMetadata().getLabels()).doesNotContainKey("sessionguard.dev/guarded-by");
    // the grace period the guard needed is given back, with what the operator noted
    assertThat(template.getSpec().getTerminationGracePeriodSeconds()).isEqualTo(30L);
    assertThat(template.getMetadata().getAnnotations()).isNullOrEmpty();
  }

  @Test
  void while_a_newer_spec_is_refused_a_recreated_target_gets_the_last_good_guard_back() {
    guardedVmcp();
    await().atMost(WAIT).until(() -> "True".equals(condition("p", "Injected").status));
    var hash = policy("p").getStatus().policyHash;
    var rendered = cluster.client.configMaps().inNamespace(NS).withName("p-session-guard").get();
    cluster.editPolicy(NS, "p", p -> p.getSpec().sessions.perClient = 500); // over sessions.max
    await().atMost(WAIT).until(() -> "Invalid".equals(condition("p", "Accepted").reason));

    // the workload replaced (kubectl replace, a GitOps tool's Replace) while the spec is refused
    cluster.client.apps().deployments().inNamespace(NS).withName("vmcp").delete();
    await().atMost(WAIT).until(() -> deployment("vmcp") == null);
    cluster.deployment(NS, "vmcp", 1);
    awaitInjected("vmcp");

    var injected = condition("p", "Injected");
    assertThat(injected.status).isEqualTo("True");
    assertThat(injected.observedGeneration).isEqualTo(1L); // about the last good spec
    assertThat(policy("p").getStatus().policyHash).isEqualTo(hash);
    assertThat(
            cluster.client.configMaps().inNamespace(NS).withName("p-session-guard").get().getData())
        .isEqualTo(rendered.getData());
    assertThat(guard(deployment("vmcp").getSpec().getTemplate()).getPorts())
        .extracting(port -> port.getName())
        .contains(GuardContainer.PORT_NAME);
  }

  @Test
  void a_grace_period_changed_since_the_guard_raised_it_is_left_as_it_is() {
    guardedVmcp();
    editVmcpPodSpec(spec -> spec.setTerminationGracePeriodSeconds(90L));
    deletePolicyP();
    var template = deployment("vmcp").getSpec().getTemplate();
    assertThat(guard(template)).isNull();
    assertThat(template.getSpec().getTerminationGracePeriodSeconds()).isEqualTo(90L);
    assertThat(template.getMetadata().getAnnotations()).isNullOrEmpty();
  }

  @Test
  void a_missing_target_is_reported_and_injected_once_created() {
    startOperator();
    cluster.client.resource(MockCluster.policy(NS, "p", "later")).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var injected = condition("p", "Injected");
              assertThat(injected).isNotNull();
              assertThat(injected.status).isEqualTo("False");
              assertThat(injected.reason).isEqualTo("TargetNotFound");
            });
    cluster.deployment(NS, "later", 1);
    awaitInjected("later");
    await()
        .atMost(WAIT)
        .untilAsserted(() -> assertThat(condition("p", "Injected").status).isEqualTo("True"));

    // a target deleted first does not block the policy's deletion
    cluster.client.apps().deployments().inNamespace(NS).withName("later").delete();
    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("p").delete();
    await().atMost(WAIT).until(() -> policy("p") == null);
  }

  @Test
  void ready_waits_for_the_workloads_rollout_of_a_new_guard_template() {
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    cluster.runningPod(NS, "vmcp-1", "p", "10.0.0.1");
    await().atMost(WAIT).until(() -> policy("p").getStatus().policyHash != null);
    running.guards.put("10.0.0.1", policy("p").getStatus().policyHash);
    await().atMost(WAIT).until(() -> "True".equals(condition("p", "Ready").status));

    // a new guard image (an operator upgrade, say) rolls the pods; the old one, still there,
    // reports the current policy too
    var generation = deployment("vmcp").getMetadata().getGeneration();
    rolloutStatus(generation, 2, 1);
    awaitRollingOut("p", "1 of 1 pods enforce", "1 of 1 pods run the latest pod template");
    rolloutStatus(generation, 1, 1);
    await().atMost(WAIT).until(() -> "True".equals(condition("p", "Ready").status));
  }

  @Test
  void a_statefulset_updated_on_delete_is_ready_once_its_pods_run_the_latest_template() {
    startOperator();
    cluster.statefulSet(NS, "db", 1);
    cluster.edit(
        StatefulSet.class,
        NS,
        "db",
        t -> {
          t.getSpec().setUpdateStrategy(new StatefulSetUpdateStrategy(null, "OnDelete"));
          return t;
        });
    var p = MockCluster.policy(NS, "s", "db");
    p.getSpec().targetRef = new TargetRef("apps/v1", "StatefulSet", "db");
    cluster.client.resource(p).create();
    await().atMost(WAIT).until(() -> "True".equals(condition("s", "Injected").status));
    cluster.runningPod(NS, "db-0", "s", "10.0.0.1");
    await().atMost(WAIT).until(() -> policy("s").getStatus().policyHash != null);
    running.guards.put("10.0.0.1", policy("s").getStatus().policyHash);

    // the pod not replaced yet: its controller waits for someone to delete it
    statefulSetStatus(0);
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> assertThat(condition("s", "Ready").message).contains("OnDelete: delete"));
    // replaced: with OnDelete the revisions stay apart for good, which is no rollout
    statefulSetStatus(1);
    await().atMost(WAIT).until(() -> "True".equals(condition("s", "Ready").status));
  }

  void statefulSetStatus(int updated) {
    var sets = cluster.client.apps().statefulSets().inNamespace(NS);
    var t = sets.withName("db").get();
    t.setStatus(
        new StatefulSetStatusBuilder()
            .withObservedGeneration(t.getMetadata().getGeneration())
            .withReplicas(1)
            .withUpdatedReplicas(updated)
            .withCurrentRevision("db-1")
            .withUpdateRevision("db-2")
            .build());
    sets.resource(t).updateStatus();
  }

  /** Writes vmcp's status as the Deployment controller would. */
  void rolloutStatus(long observedGeneration, int replicas, int updated) {
    var d = deployment("vmcp");
    d.setStatus(
        new DeploymentStatusBuilder()
            .withObservedGeneration(observedGeneration)
            .withReplicas(replicas)
            .withUpdatedReplicas(updated)
            .build());
    cluster.client.apps().deployments().inNamespace(NS).resource(d).updateStatus();
  }

  @Test
  void a_pod_whose_guard_fails_its_readiness_probe_does_not_enforce() {
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    // the guard reloaded the current policy but cannot serve (its upstream unreachable, say)
    cluster.runningPod(NS, "vmcp-1", "p", "10.0.0.1", false);
    await().atMost(WAIT).until(() -> policy("p").getStatus().policyHash != null);
    running.guards.put("10.0.0.1", policy("p").getStatus().policyHash);
    awaitRollingOut("p", "0 of 1 pods enforce", "1 more has it but its guard is not ready");
    assertThat(policy("p").getStatus().pods.enforcing).isZero();

    cluster.client.pods().inNamespace(NS).withName("vmcp-1").delete();
    await()
        .atMost(WAIT)
        .until(() -> cluster.client.pods().inNamespace(NS).withName("vmcp-1").get() == null);
    cluster.runningPod(NS, "vmcp-1", "p", "10.0.0.1");
    await().atMost(WAIT).until(() -> "True".equals(condition("p", "Ready").status));
  }

  @Test
  void ready_follows_the_pods_whose_guard_reports_the_current_hash() {
    startOperator();
    cluster.deployment(NS, "vmcp", 2);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    cluster.runningPod(NS, "vmcp-1", "p", "10.0.0.1");
    cluster.runningPod(NS, "vmcp-2", "p", "10.0.0.2");
    await().atMost(WAIT).until(() -> policy("p").getStatus().policyHash != null);
    var hash = policy("p").getStatus().policyHash;

    running.guards.put("10.0.0.1", hash);
    running.guards.put("10.0.0.2", "stale");
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var status = policy("p").getStatus();
              assertThat(status.pods.desired).isEqualTo(2);
              assertThat(status.pods.enforcing).isEqualTo(1);
              var ready = Conditions.find(status.conditions, "Ready");
              assertThat(ready.status).isEqualTo("False");
              assertThat(ready.reason).isEqualTo("RollingOut");
            });

    running.guards.put("10.0.0.2", hash);
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var status = policy("p").getStatus();
              assertThat(status.pods.enforcing).isEqualTo(2);
              var ready = Conditions.find(status.conditions, "Ready");
              assertThat(ready.status).isEqualTo("True");
              assertThat(ready.message).contains("limits", "Memory");
            });
  }

  /** ToolHive's CRD, serving VirtualMCPServer v1beta1, as ToolHive installs it. */
  void installToolHive() {
    cluster
        .client
        .apiextensions()
        .v1()
        .customResourceDefinitions()
        .resource(
            new CustomResourceDefinitionBuilder()
                .withNewMetadata()
                .withName(ToolHive.CRD_NAME)
                .endMetadata()
                .withNewSpec()
                .withGroup(ToolHive.GROUP)
                .withScope("Namespaced")
                .withNewNames()
                .withKind(ToolHive.KIND)
                .withPlural("virtualmcpservers")
                .withSingular("virtualmcpserver")
                .withListKind("VirtualMCPServerList")
                .endNames()
                .addNewVersion()
                .withName("v1beta1")
                .withServed(true)
                .withStorage(true)
                .withNewSchema()
                .withNewOpenAPIV3Schema()
                .withType("object")
                .withXKubernetesPreserveUnknownFields(true)
                .endOpenAPIV3Schema()
                .endSchema()
                .withNewSubresources()
                .withNewStatus()
                .endStatus()
                .endSubresources()
                .endVersion()
                .endSpec()
                .build())
        .create();
  }

  /** The VirtualMCPServer "vmcp", with a spec field of ToolHive's own. */
  io.fabric8.kubernetes.client.dsl.NonNamespaceOperation<
          io.fabric8.kubernetes.api.model.GenericKubernetesResource,
          io.fabric8.kubernetes.api.model.GenericKubernetesResourceList,
          io.fabric8.kubernetes.client.dsl.Resource<
              io.fabric8.kubernetes.api.model.GenericKubernetesResource>>
      createVmcp() {
    var vmcps =
        cluster
            .client
            .genericKubernetesResources("toolhive.stacklok.dev/v1beta1", "VirtualMCPServer")
            .inNamespace(NS);
    vmcps
        .resource(
            new GenericKubernetesResourceBuilder()
                .withApiVersion("toolhive.stacklok.dev/v1beta1")
                .withKind("VirtualMCPServer")
                .withNewMetadata()
                .withName("vmcp")
                .withNamespace(NS)
                .endMetadata()
                .withAdditionalProperties(Map.of("spec", Map.of("groupRef", "tools")))
                .build())
        .create();
    return vmcps;
  }

  /**
   * The pod ToolHive runs for "vmcp": its own label and named port, and {@code labels}; running at
   * {@code ip}, or not started when it is null.
   */
  void toolHivePod(Map<String, String> labels, String ip) {
    var pod =
        new PodBuilder()
            .withNewMetadata()
            .withName("vmcp-0")
            .addToLabels("app.kubernetes.io/name", "vmcp")
            .addToLabels(labels)
            .endMetadata()
            .withNewSpec()
            .addNewContainer()
            .withName("vmcp")
            .withImage("vmcp")
            .addNewPort()
            .withName("http")
            .withContainerPort(4483)
            .endPort()
            .endContainer()
            .endSpec();
    if (ip != null) {
      pod.withNewStatus()
          .withPhase("Running")
          .withPodIP(ip)
          .addNewContainerStatus()
          .withName(GuardContainer.NAME)
          .withReady(true)
          .endContainerStatus()
          .endStatus();
    }
    cluster.client.pods().inNamespace(NS).resource(pod.build()).create();
  }

  @Test
  void lockdown_names_a_network_policy_admitting_a_virtualmcpservers_pods_by_toolhives_labels() {
    installToolHive();
    startOperator();
    createVmcp();
    var p = vmcpPolicy();
    p.getSpec().exposure.lockdown = true;
    cluster.client.resource(p).create();
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Injected").status));
    // ToolHive's pod: its own labels and port names, and what the podTemplateSpec carries
    toolHivePod(
        Map.of(PodTemplates.GUARDED_BY, "v", PodTemplates.TARGET, "virtualmcpserver.vmcp"), null);
    // a NetworkPolicy written for ToolHive's pods, admitting the vMCP port by its name
    cluster.networkPolicyAdmitting(
        NS, "allow-vmcp", "app.kubernetes.io/name", "vmcp", new IntOrString("http"));
    await()
        .atMost(WAIT)
        .untilAsserted(
            () ->
                assertThat(condition("v", "Ready").message)
                    .contains("NetworkPolicy allow-vmcp also admits the upstream port 4483"));
  }

  @Test
  void the_pods_of_a_former_deployment_target_do_not_make_a_virtualmcpserver_ready() {
    installToolHive();
    startOperator();
    var vmcps = createVmcp();
    cluster.deployment(NS, "old", 1);
    var p = vmcpPolicy();
    p.getSpec().targetRef = new TargetRef("apps/v1", "Deployment", "old");
    cluster.client.resource(p).create();
    awaitInjected("old");
    cluster.runningPod(NS, "old-1", "v", "10.0.0.1");
    await().atMost(WAIT).until(() -> policy("v").getStatus().policyHash != null);
    running.guards.put("10.0.0.1", policy("v").getStatus().policyHash);
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Ready").status));

    cluster.editPolicy(NS, "v", v -> v.getSpec().targetRef = vmcpPolicy().getSpec().targetRef);
    await().atMost(WAIT).until(() -> "False".equals(condition("v", "Ready").status));
    // old's pod, not rolled yet, keeps guarded-by and reloads the ConfigMap: it reports the
    // current hash, and the VirtualMCPServer's podTemplateSpec has no label of its own
    await().atMost(WAIT).until(() -> policy("v").getStatus().policyHash != null);
    running.guards.put("10.0.0.1", policy("v").getStatus().policyHash);
    double reconciles = running.reconciles();
    await()
        .atMost(WAIT)
        .until(
            () ->
                running.reconciledPast(reconciles + 2)
                    || "True".equals(condition("v", "Ready").status));
    assertThat(condition("v", "Ready").status).isEqualTo("False");
    assertThat(policy("v").getStatus().pods.enforcing).isZero();

    // ToolHive's pod, with what the podTemplateSpec carries
    var template = podTemplateSpec(vmcps.withName("vmcp").get());
    var labels = template.getMetadata().getLabels();
    assertThat(labels).containsKeys(PodTemplates.GUARDED_BY, PodTemplates.TARGET);
    toolHivePod(labels, "10.0.0.2");
    running.guards.put("10.0.0.2", policy("v").getStatus().policyHash);
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Ready").status));
    assertThat(policy("v").getStatus().pods.enforcing).isEqualTo(1);
  }

  /** The VirtualMCPServer's podTemplateSpec, as a pod template. */
  PodTemplateSpec podTemplateSpec(GenericKubernetesResource vmcp) {
    return cluster
        .client
        .getKubernetesSerialization()
        .convertValue(vmcp.<Object>get("spec", "podTemplateSpec"), PodTemplateSpec.class);
  }

  /**
   * ToolHive's Deployment for the VirtualMCPServer {@code vmcp}: its podTemplateSpec merged into a
   * template of ToolHive's own, owned and controlled by the VirtualMCPServer.
   */
  void toolHiveDeployment(GenericKubernetesResource vmcp, int replicas) {
    toolHiveDeployment(vmcp, replicas, true);
  }

  /** As above; {@code applied} false: made before ToolHive saw the guard in the podTemplateSpec. */
  void toolHiveDeployment(GenericKubernetesResource vmcp, int replicas, boolean applied) {
    var copied = podTemplateSpec(vmcp);
    copied.getMetadata().getLabels().put("app.kubernetes.io/name", "vmcp");
    copied.getSpec().getContainers().add(0, new ContainerBuilder().withName("vmcp").build());
    if (!applied) {
      copied.getSpec().getContainers().removeIf(c -> c.getName().equals(GuardContainer.NAME));
    }
    cluster
        .client
        .apps()
        .deployments()
        .inNamespace(NS)
        .resource(
            new DeploymentBuilder()
                .withNewMetadata()
                .withName("vmcp")
                .addNewOwnerReference()
                .withApiVersion("toolhive.stacklok.dev/v1beta1")
                .withKind("VirtualMCPServer")
                .withName("vmcp")
                .withUid(vmcp.getMetadata().getUid())
                .withController(true)
                .endOwnerReference()
                .endMetadata()
                .withNewSpec()
                .withReplicas(replicas)
                .withNewSelector()
                .addToMatchLabels("app.kubernetes.io/name", "vmcp")
                .endSelector()
                .withTemplate(copied)
                .endSpec()
                .build())
        .create();
  }

  @Test
  void a_virtualmcpserver_without_replicas_expects_as_many_pods_as_toolhives_deployment() {
    installToolHive();
    startOperator();
    var vmcps = createVmcp(); // no spec.replicas: ToolHive leaves the count to an autoscaler
    cluster.client.resource(vmcpPolicy()).create();
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Injected").status));
    var vmcp = vmcps.withName("vmcp").get();
    toolHiveDeployment(vmcp, 3);
    var template = podTemplateSpec(vmcp);
    toolHivePod(template.getMetadata().getLabels(), "10.0.0.2");
    running.guards.put("10.0.0.2", policy("v").getStatus().policyHash);
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(policy("v").getStatus().pods.enforcing).isEqualTo(1);
              assertThat(policy("v").getStatus().pods.desired).isEqualTo(3);
              assertThat(condition("v", "Ready").message).startsWith("1 of 3 pods enforce");
              assertThat(condition("v", "Ready").status).isEqualTo("False");
            });
  }

  @Test
  void a_virtualmcpserver_is_ready_once_toolhive_has_applied_the_guard_to_its_deployment() {
    installToolHive();
    startOperator();
    var vmcps = createVmcp();
    cluster.client.resource(vmcpPolicy()).create();
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Injected").status));
    var vmcp = vmcps.withName("vmcp").get();
    toolHiveDeployment(vmcp, 1, false);
    var template = podTemplateSpec(vmcp);
    // a pod whose guard reports the current policy (an older guard, say)
    toolHivePod(template.getMetadata().getLabels(), "10.0.0.2");
    running.guards.put("10.0.0.2", policy("v").getStatus().policyHash);
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var ready = condition("v", "Ready");
              assertThat(ready.status).isEqualTo("False");
              assertThat(ready.message)
                  .contains("ToolHive has not applied the podTemplateSpec to its Deployment yet");
            });

    cluster.edit(
        Deployment.class,
        NS,
        "vmcp",
        d -> {
          d.getSpec().getTemplate().getSpec().getContainers().add(guard(template));
          return d;
        });
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Ready").status));
  }

  @Test
  void toolhives_deployment_for_a_guarded_virtualmcpserver_keeps_the_guard_it_copied() {
    installToolHive();
    startOperator();
    var vmcps = createVmcp();
    cluster.client.resource(vmcpPolicy()).create();
    await().atMost(WAIT).until(() -> "True".equals(condition("v", "Injected").status));
    toolHiveDeployment(vmcps.withName("vmcp").get(), 1);

    // reconciles, each of which releases the workloads the policy no longer targets (the second
    // after the Deployment is surely in the operator's cache)
    for (int max : new int[] {99, 98}) {
      var edited = cluster.editPolicy(NS, "v", v -> v.getSpec().sessions.max = max);
      await()
          .atMost(WAIT)
          .until(
              () ->
                  edited
                      .getMetadata()
                      .getGeneration()
                      .equals(policy("v").getStatus().observedGeneration));
    }
    var template = deployment("vmcp").getSpec().getTemplate();
    assertThat(guard(template)).isNotNull();
    assertThat(template.getMetadata().getLabels())
        .containsEntry(PodTemplates.GUARDED_BY, "v")
        .containsEntry(PodTemplates.TARGET, "virtualmcpserver.vmcp");
    assertThat(cluster.client.v1().events().inNamespace(NS).list().getItems())
        .noneMatch(e -> "Released".equals(e.getReason()));
  }

  @Test
  void a_virtualmcpserver_gets_the_guard_through_its_pod_template_spec() {
    installToolHive();
    startOperator();
    var vmcps = createVmcp();
    cluster.client.resource(vmcpPolicy()).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var vmcp = vmcps.withName("vmcp").get();
              assertThat(guard(podTemplateSpec(vmcp))).isNotNull();
              assertThat(vmcp.<String>get("spec", "groupRef")).isEqualTo("tools");
            });
    assertThat(running.operator.getRuntimeInfo().allEventSourcesAreHealthy()).isTrue();
  }

  @Test
  void a_virtualmcpserver_the_cluster_does_not_serve_is_reported_and_does_not_block_deletion() {
    startOperator(); // no ToolHive CRD
    cluster.client.resource(vmcpPolicy()).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var injected = condition("v", "Injected");
              assertThat(injected.status).isEqualTo("False");
              assertThat(injected.reason).isEqualTo("UnsupportedKind");
              assertThat(injected.message).contains("not served", ToolHive.CRD_NAME);
              assertThat(condition("v", "Ready").reason).isEqualTo("UnsupportedKind");
              // valid, but nothing was rendered: no ConfigMap is claimed, no hash reported
              assertThat(condition("v", "Accepted").message)
                  .startsWith("policy is valid; ")
                  .doesNotContain("rendered");
              assertThat(policy("v").getStatus().policyHash).isNull();
            });
    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("v").delete();
    await().atMost(WAIT).until(() -> policy("v") == null);
  }

  @Test
  void a_write_the_api_server_refuses_is_reported_in_the_status() {
    cluster
        .server
        .expect()
        .put()
        .withPath("/apis/apps/v1/namespaces/tools/deployments/vmcp")
        .andReturn(
            422,
            MockCluster.status(
                422,
                "Invalid",
                "admission webhook \"policy.example\" denied the request: no sidecars"))
        .once();
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var injected = condition("p", "Injected");
              assertThat(injected.reason).isEqualTo("InjectionFailed");
              assertThat(injected.message).contains("denied the request: no sidecars");
              assertThat(condition("p", "Ready").status).isEqualTo("False");
            });
    assertThat(
            cluster.client.v1().events().inNamespace(NS).list().getItems().stream()
                .map(e -> e.getReason()))
        .contains("InjectionFailed");
    // the next attempt (the recheck) is not refused: the guard goes in
    awaitInjected("vmcp");
    await()
        .atMost(WAIT)
        .untilAsserted(() -> assertThat(condition("p", "Injected").status).isEqualTo("True"));
  }

  @Test
  void deleting_a_policy_whose_spec_was_since_refused_takes_its_guard_out_all_the_same() {
    startOperator();
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    awaitInjected("vmcp");
    // retargeted to a kind it cannot guard: refused, so the guard stays in vmcp meanwhile
    cluster.editPolicy(
        NS, "p", q -> q.getSpec().targetRef = new TargetRef("apps/v1", "Deploymnet", "other"));
    await()
        .atMost(WAIT)
        .untilAsserted(() -> assertThat(condition("p", "Accepted").reason).isEqualTo("Invalid"));
    assertThat(guard(deployment("vmcp").getSpec().getTemplate())).isNotNull();

    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("p").delete();
    await().atMost(WAIT).until(() -> policy("p") == null);
    var template = deployment("vmcp").getSpec().getTemplate();
    assertThat(template.getSpec().getContainers())
        .extracting(Container::getName)
        .containsExactly("mcp");
    assertThat(template.getMetadata().getLabels()).doesNotContainKey("sessionguard.dev/guarded-by");
  }
}
