package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ConflictTest {
  static final String NS = "tools";
  static final Duration WAIT = Duration.ofSeconds(20);

  MockCluster cluster;
  RunningOperator running;

  @BeforeEach
  void start() {
    cluster = new MockCluster();
    running = new RunningOperator(cluster, Map.of(), null).start();
  }

  @AfterEach
  void stop() {
    running.close();
    cluster.close();
  }

  Condition accepted(String name) {
    var p = cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName(name).get();
    return p.getStatus() == null ? null : Conditions.find(p.getStatus().conditions, "Accepted");
  }

  /** Creation timestamps have one-second resolution: lets the clock move past {@code older}'s. */
  static void awaitYounger(SessionPolicy older) {
    var created = Instant.parse(older.getMetadata().getCreationTimestamp());
    await().atMost(WAIT).until(() -> Instant.now().isAfter(created.plusSeconds(1)));
  }

  boolean hasConfigMap(String policy) {
    return cluster.client.configMaps().inNamespace(NS).withName(policy + "-session-guard").get()
        != null;
  }

  @Test
  void the_older_policy_keeps_the_target_and_the_newer_recovers_when_it_is_deleted() {
    // "zeta" is older but sorts last: the winner is chosen by age, not by name
    var older = cluster.client.resource(MockCluster.policy(NS, "zeta", "vmcp")).create();
    await().atMost(WAIT).until(() -> accepted("zeta") != null && hasConfigMap("zeta"));
    awaitYounger(older);
    cluster.client.resource(MockCluster.policy(NS, "alpha", "vmcp")).create();

    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var refused = accepted("alpha");
              assertThat(refused).isNotNull();
              assertThat(refused.status).isEqualTo("False");
              assertThat(refused.reason).isEqualTo("Conflict");
              assertThat(refused.message).contains("SessionPolicy zeta", "Deployment vmcp");
            });
    assertThat(hasConfigMap("alpha")).isFalse();
    assertThat(accepted("zeta").status).isEqualTo("True");
    assertThat(hasConfigMap("zeta")).isTrue();
    assertThat(cluster.client.v1().events().inNamespace(NS).list().getItems())
        .filteredOn(e -> e.getInvolvedObject().getName().equals("alpha"))
        .filteredOn(e -> e.getType().equals("Warning"))
        .singleElement()
        .satisfies(e -> assertThat(e.getReason()).isEqualTo("Conflict"));

    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("zeta").delete();

    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(accepted("alpha").status).isEqualTo("True");
              assertThat(hasConfigMap("alpha")).isTrue();
            });
  }

  @Test
  void policies_on_different_targets_or_namespaces_do_not_conflict() {
    cluster.client.resource(MockCluster.policy(NS, "one", "vmcp-a")).create();
    cluster.client.resource(MockCluster.policy(NS, "two", "vmcp-b")).create();
    cluster.client.resource(MockCluster.policy("other", "three", "vmcp-a")).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(accepted("one")).extracting(c -> c.status).isEqualTo("True");
              assertThat(accepted("two")).extracting(c -> c.status).isEqualTo("True");
              var three =
                  cluster
                      .client
                      .resources(SessionPolicy.class)
                      .inNamespace("other")
                      .withName("three")
                      .get();
              // not reconciled yet: keep waiting rather than fail on a null
              assertThat(three.getStatus()).isNotNull();
              assertThat(Conditions.find(three.getStatus().conditions, "Accepted").status)
                  .isEqualTo("True");
            });
  }

  @Test
  void an_older_policy_refused_since_its_creation_does_not_keep_a_valid_one_out() {
    cluster.deployment(NS, "vmcp", 1);
    var broken = MockCluster.policy(NS, "zeta", "vmcp");
    broken.getSpec().sessions.perClient = 500; // over sessions.max: refused by the operator
    var older = cluster.client.resource(broken).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> assertThat(accepted("zeta")).extracting(c -> c.reason).isEqualTo("Invalid"));
    awaitYounger(older);

    cluster.client.resource(MockCluster.policy(NS, "alpha", "vmcp")).create();

    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(accepted("alpha")).extracting(c -> c.status).isEqualTo("True");
              assertThat(hasConfigMap("alpha")).isTrue();
              assertThat(guardedBy("vmcp")).isEqualTo("alpha");
            });

    // Mended, the older one does not take the target from the one guarding it: that would roll
    // the pods and leave the guarding policy's Service without endpoints.
    cluster.editPolicy(NS, "zeta", z -> z.getSpec().sessions.perClient = 5);
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var refused = accepted("zeta");
              assertThat(refused.reason).isEqualTo("Conflict");
              assertThat(refused.message).contains("SessionPolicy alpha already guards");
            });
    assertThat(accepted("alpha").status).isEqualTo("True");
    assertThat(guardedBy("vmcp")).isEqualTo("alpha");
    assertThat(hasConfigMap("zeta")).isFalse();
  }

  @Test
  void a_policy_refused_with_a_new_target_leaves_its_former_one_to_another_policy() {
    cluster.deployment(NS, "vmcp", 1);
    cluster.deployment(NS, "other", 1);
    cluster.client.resource(MockCluster.policy(NS, "zeta", "vmcp")).create();
    await().atMost(WAIT).until(() -> "zeta".equals(guardedBy("vmcp")));
    // retargeted and refused in one edit: the last good spec, on vmcp, is no longer zeta's aim
    cluster.editPolicy(
        NS,
        "zeta",
        z -> {
          z.getSpec().targetRef = new TargetRef("apps/v1", "Deployment", "other");
          z.getSpec().sessions.perClient = 500;
        });
    await().atMost(WAIT).until(() -> "Invalid".equals(accepted("zeta").reason));

    cluster.client.resource(MockCluster.policy(NS, "alpha", "vmcp")).create();
    await()
        .atMost(WAIT)
        .until(() -> "alpha".equals(guardedBy("vmcp")) && "True".equals(accepted("alpha").status));
    long writes = cluster.count(MockCluster.writesTo("/deployments/vmcp"));
    double reconciles = running.reconciles();
    await().atMost(WAIT).until(() -> running.reconciledPast(reconciles + 10));
    // nobody takes vmcp back from alpha
    assertThat(cluster.count(MockCluster.writesTo("/deployments/vmcp"))).isEqualTo(writes);
    assertThat(guardedBy("vmcp")).isEqualTo("alpha");
  }

  String guardedBy(String deployment) {
    return cluster
        .client
        .apps()
        .deployments()
        .inNamespace(NS)
        .withName(deployment)
        .get()
        .getSpec()
        .getTemplate()
        .getMetadata()
        .getLabels()
        .get(PodTemplates.GUARDED_BY);
  }
}
