package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import java.time.Duration;
import java.util.Map;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The guard's Service, the lockdown NetworkPolicy, retargeting and the Redis store. */
class ExposureTest {
  static final String NS = "tools";
  static final Duration WAIT = Duration.ofSeconds(20);
  static final Map<String, String> ENV =
      Map.of("POD_NAMESPACE", "session-guard", "MONITORING_NAMESPACE", "prometheus");

  MockCluster cluster;
  RunningOperator running;

  @BeforeEach
  void start() {
    Awaitility.ignoreExceptionsByDefault();
    cluster = new MockCluster();
    running = new RunningOperator(cluster, ENV, null).start();
  }

  @AfterEach
  void stop() {
    running.close();
    cluster.close();
    Awaitility.reset();
  }

  @Test
  void the_guard_service_selects_the_guarded_pods_and_copies_the_targets_session_affinity() {
    cluster.deployment(NS, "vmcp", 1);
    cluster
        .client
        .services()
        .inNamespace(NS)
        .resource(
            new ServiceBuilder()
                .withNewMetadata()
                .withName("vmcp")
                .endMetadata()
                .withNewSpec()
                .addToSelector("app", "vmcp")
                .addNewPort()
                .withPort(80)
                .withTargetPort(new IntOrString(4483))
                .endPort()
                .withSessionAffinity("ClientIP")
                .withNewSessionAffinityConfig()
                .withNewClientIP()
                .withTimeoutSeconds(600)
                .endClientIP()
                .endSessionAffinityConfig()
                .endSpec()
                .build())
        .create();
    create(MockCluster.policy(NS, "p", "vmcp"));

    var service = await().atMost(WAIT).until(() -> service("p-guard"), s -> s != null);
    assertThat(service.getSpec().getSelector())
        .containsExactly(Map.entry("sessionguard.dev/guarded-by", "p"));
    assertThat(service.getSpec().getPorts())
        .singleElement()
        .satisfies(
            port -> {
              assertThat(port.getPort()).isEqualTo(4484);
              assertThat(port.getTargetPort().getStrVal()).isEqualTo("guard");
            });
    assertThat(service.getSpec().getSessionAffinity()).isEqualTo("ClientIP");
    assertThat(service.getSpec().getSessionAffinityConfig().getClientIP().getTimeoutSeconds())
        .isEqualTo(600);
    assertThat(service.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(o -> assertThat(o.getKind()).isEqualTo("SessionPolicy"));
    // no lockdown asked for: no NetworkPolicy, even once Ready
    enforce("p", "10.0.0.1");
    awaitReady("p");
    assertThat(networkPolicy("p-guard-lockdown")).isNull();
  }

  @Test
  void without_exposure_service_there_is_no_guard_service_and_turning_it_off_removes_it() {
    cluster.deployment(NS, "vmcp", 1);
    create(MockCluster.policy(NS, "p", "vmcp"));
    await().atMost(WAIT).until(() -> service("p-guard") != null);
    cluster.editPolicy(NS, "p", p -> p.getSpec().exposure.service = false);
    await().atMost(WAIT).until(() -> service("p-guard") == null);

    cluster.deployment(NS, "other", 1);
    var q = MockCluster.policy(NS, "q", "other");
    q.getSpec().exposure.service = false;
    create(q);
    await().atMost(WAIT).until(() -> injected("q"));
    assertThat(service("q-guard")).isNull();
  }

  @Test
  void lockdown_waits_for_ready_then_admits_only_the_guard_port_and_the_admin_namespaces() {
    cluster.deployment(NS, "vmcp", 1);
    var p = MockCluster.policy(NS, "p", "vmcp");
    p.getSpec().exposure.lockdown = true;
    create(p);
    await().atMost(WAIT).until(() -> injected("p"));
    cluster.runningPod(NS, "vmcp-1", "p", "10.0.0.1");
    // injected, pods running, but not enforcing yet: the door stays open
    double reconciles = running.reconciles();
    await().atMost(WAIT).until(() -> running.reconciledPast(reconciles + 2));
    assertThat(networkPolicy("p-guard-lockdown")).isNull();

    running.guards.put("10.0.0.1", policy("p").getStatus().policyHash);
    var lockdown =
        await().atMost(WAIT).until(() -> networkPolicy("p-guard-lockdown"), n -> n != null);
    assertLockdown(lockdown, "p");

    // a new policy rolls out (the guard still reports the old hash): the door stays shut
    cluster.editPolicy(NS, "p", x -> x.getSpec().sessions.max = 50);
    await()
        .atMost(WAIT)
        .untilAsserted(() -> assertThat(condition("p", "Ready").reason).isEqualTo("RollingOut"));
    assertThat(networkPolicy("p-guard-lockdown")).isNotNull();

    // lockdown off: the NetworkPolicy goes
    cluster.editPolicy(NS, "p", x -> x.getSpec().exposure.lockdown = false);
    await().atMost(WAIT).until(() -> networkPolicy("p-guard-lockdown") == null);
  }

  @Test
  void a_statefulset_gets_the_service_and_the_lockdown_too() {
    cluster.statefulSet(NS, "db", 1);
    var p = MockCluster.policy(NS, "s", "db");
    p.getSpec().targetRef = new TargetRef("apps/v1", "StatefulSet", "db");
    p.getSpec().exposure.lockdown = true;
    create(p);
    await().atMost(WAIT).until(() -> service("s-guard") != null);
    assertThat(service("s-guard").getSpec().getSessionAffinity()).isEqualTo("None");
    enforce("s", "10.0.1.1");
    var lockdown =
        await().atMost(WAIT).until(() -> networkPolicy("s-guard-lockdown"), n -> n != null);
    assertLockdown(lockdown, "s");
  }

  @Test
  void another_network_policy_admitting_the_upstream_port_is_a_warning() {
    cluster.deployment(NS, "vmcp", 1);
    cluster.networkPolicyAdmitting(NS, "allow-mcp", "app", "vmcp", new IntOrString(4483));
    var p = MockCluster.policy(NS, "p", "vmcp");
    p.getSpec().exposure.lockdown = true;
    create(p);
    enforce("p", "10.0.0.1");
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var ready = condition("p", "Ready");
              assertThat(ready.status).isEqualTo("True");
              assertThat(ready.message)
                  .contains("NetworkPolicy allow-mcp also admits the upstream port 4483");
            });
    await()
        .atMost(WAIT)
        .untilAsserted(
            () ->
                assertThat(cluster.client.v1().events().inNamespace(NS).list().getItems())
                    .filteredOn(e -> "GuardBypass".equals(e.getReason()))
                    .singleElement()
                    .satisfies(e -> assertThat(e.getType()).isEqualTo("Warning")));
  }

  @Test
  void deleting_the_policy_removes_the_network_policy_before_the_guard() {
    cluster.deployment(NS, "vmcp", 1);
    var p = MockCluster.policy(NS, "p", "vmcp");
    p.getSpec().exposure.lockdown = true;
    create(p);
    enforce("p", "10.0.0.1");
    await().atMost(WAIT).until(() -> networkPolicy("p-guard-lockdown") != null);
    int from = cluster.seen().size();

    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("p").delete();
    await().atMost(WAIT).until(() -> policy("p") == null);
    assertThat(networkPolicy("p-guard-lockdown")).isNull();
    assertThat(guard("vmcp")).isNull();
    var after = cluster.seen().subList(from, cluster.seen().size());
    int deleted =
        indexOf(after, s -> s.method().equals("DELETE") && s.path().contains("/networkpolicies/"));
    int removed =
        indexOf(after, s -> s.method().equals("PUT") && s.path().contains("/deployments/vmcp"));
    assertThat(deleted).isNotNegative();
    assertThat(removed).isGreaterThan(deleted);
  }

  @Test
  void a_retargeted_policy_takes_its_guard_out_of_the_old_target() {
    cluster.deployment(NS, "old", 1);
    cluster.deployment(NS, "new", 1);
    create(MockCluster.policy(NS, "p", "old"));
    await().atMost(WAIT).until(() -> guard("old") != null);
    cluster.editPolicy(NS, "p", p -> p.getSpec().targetRef.name = "new");
    await().atMost(WAIT).until(() -> guard("new") != null && guard("old") == null);
    assertThat(
            cluster
                .client
                .apps()
                .deployments()
                .inNamespace(NS)
                .withName("old")
                .get()
                .getSpec()
                .getTemplate()
                .getMetadata()
                .getLabels())
        .doesNotContainKey(PodTemplates.GUARDED_BY);
  }

  @Test
  void the_pods_of_a_former_target_do_not_make_the_new_one_ready() {
    cluster.deployment(NS, "old", 1);
    cluster.deployment(NS, "new", 1);
    create(MockCluster.policy(NS, "p", "old"));
    enforce("p", "10.0.0.1");
    awaitReady("p");

    cluster.editPolicy(NS, "p", p -> p.getSpec().targetRef.name = "new");
    await().atMost(WAIT).until(() -> guard("new") != null && guard("old") == null);
    await()
        .atMost(WAIT)
        .until(
            () ->
                policy("p")
                    .getMetadata()
                    .getGeneration()
                    .equals(policy("p").getStatus().observedGeneration));
    // old's pod, not rolled yet, keeps the label and reloads the ConfigMap: it reports the
    // current hash, but it is not one of new's pods, and new has none running
    running.guards.put("10.0.0.1", policy("p").getStatus().policyHash);
    double reconciles = running.reconciles();
    await()
        .atMost(WAIT)
        .until(
            () ->
                running.reconciledPast(reconciles + 2)
                    || "True".equals(condition("p", "Ready").status));
    assertThat(condition("p", "Ready").status).isEqualTo("False");
    assertThat(policy("p").getStatus().pods.enforcing).isZero();
  }

  @Test
  void with_the_redis_store_the_guard_gets_the_password_by_reference_and_no_per_pod_warning() {
    cluster.deployment(NS, "vmcp", 2);
    var p = MockCluster.policy(NS, "p", "vmcp");
    p.getSpec().store.type = SessionPolicySpec.StoreType.Redis;
    p.getSpec().store.redis = new SessionPolicySpec.Redis();
    p.getSpec().store.redis.url = "redis://redis.tools:6379";
    p.getSpec().store.redis.passwordSecretRef = new SessionPolicySpec.SecretKeyRef();
    p.getSpec().store.redis.passwordSecretRef.name = "redis";
    p.getSpec().store.redis.passwordSecretRef.key = "password";
    create(p);
    await().atMost(WAIT).until(() -> guard("vmcp") != null);
    assertThat(guard("vmcp").getEnv())
        .extracting(e -> e.getName())
        .containsExactly(
            "POD_NAME",
            "POD_NAMESPACE",
            "SESSIONGUARD_START_SETTINGS",
            "SESSIONGUARD_REDIS_PASSWORD");
    assertThat(guard("vmcp").getEnv().get(0).getValueFrom().getFieldRef().getFieldPath())
        .isEqualTo("metadata.name");
    assertThat(guard("vmcp").getEnv())
        .filteredOn(e -> e.getName().equals("SESSIONGUARD_REDIS_PASSWORD"))
        .singleElement()
        .satisfies(
            env -> {
              assertThat(env.getName()).isEqualTo("SESSIONGUARD_REDIS_PASSWORD");
              assertThat(env.getValue()).isNull();
              assertThat(env.getValueFrom().getSecretKeyRef().getName()).isEqualTo("redis");
              assertThat(env.getValueFrom().getSecretKeyRef().getKey()).isEqualTo("password");
            });
    enforce("p", "10.0.0.1", "10.0.0.2");
    awaitReady("p");
    assertThat(policy("p").getStatus().store).isEqualTo("Redis");
    assertThat(condition("p", "Ready").message).doesNotContain("Memory");
    // the operator never read a Secret
    assertThat(cluster.count(s -> s.operator() && s.path().contains("/secrets"))).isZero();
  }

  // --- helpers

  void assertLockdown(NetworkPolicy lockdown, String policy) {
    var spec = lockdown.getSpec();
    assertThat(spec.getPodSelector().getMatchLabels())
        .containsExactly(Map.entry("sessionguard.dev/guarded-by", policy));
    assertThat(spec.getPolicyTypes()).containsExactly("Ingress");
    assertThat(spec.getIngress()).hasSize(2);
    var guardRule = spec.getIngress().get(0);
    assertThat(guardRule.getFrom()).isEmpty();
    assertThat(guardRule.getPorts())
        .singleElement()
        .satisfies(port -> assertThat(port.getPort().getStrVal()).isEqualTo("guard"));
    var adminRule = spec.getIngress().get(1);
    assertThat(adminRule.getPorts())
        .singleElement()
        .satisfies(port -> assertThat(port.getPort().getStrVal()).isEqualTo("guard-admin"));
    assertThat(adminRule.getFrom())
        .extracting(
            peer -> peer.getNamespaceSelector().getMatchLabels().get("kubernetes.io/metadata.name"))
        .containsExactly("prometheus", "session-guard");
    assertThat(adminRule.getFrom()).allSatisfy(peer -> assertThat(peer.getPodSelector()).isNull());
    assertThat(lockdown.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(o -> assertThat(o.getName()).isEqualTo(policy));
  }

  static <T> int indexOf(java.util.List<T> list, java.util.function.Predicate<T> p) {
    for (int i = 0; i < list.size(); i++) {
      if (p.test(list.get(i))) {
        return i;
      }
    }
    return -1;
  }

  /** Running pods for the policy whose guards report its current hash. */
  void enforce(String policy, String... ips) {
    await().atMost(WAIT).until(() -> injected(policy));
    var hash = policy(policy).getStatus().policyHash;
    int i = 0;
    for (var ip : ips) {
      cluster.runningPod(NS, policy + "-pod-" + i++, policy, ip);
      running.guards.put(ip, hash);
    }
  }

  void awaitReady(String policy) {
    await()
        .atMost(WAIT)
        .untilAsserted(() -> assertThat(condition(policy, "Ready").status).isEqualTo("True"));
  }

  boolean injected(String policy) {
    var c = condition(policy, "Injected");
    return c != null && "True".equals(c.status);
  }

  void create(SessionPolicy p) {
    cluster.client.resource(p).create();
  }

  SessionPolicy policy(String name) {
    return cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName(name).get();
  }

  dev.sessionguard.policy.SessionPolicyStatus.Condition condition(String policy, String type) {
    var p = policy(policy);
    return p == null || p.getStatus() == null
        ? null
        : Conditions.find(p.getStatus().conditions, type);
  }

  Service service(String name) {
    return cluster.client.services().inNamespace(NS).withName(name).get();
  }

  NetworkPolicy networkPolicy(String name) {
    return cluster.client.network().v1().networkPolicies().inNamespace(NS).withName(name).get();
  }

  Container guard(String deployment) {
    var d = cluster.client.apps().deployments().inNamespace(NS).withName(deployment).get();
    return InjectionTest.guard(d.getSpec().getTemplate());
  }
}
