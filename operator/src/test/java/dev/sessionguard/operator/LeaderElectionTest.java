package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.authorization.v1.ResourceRuleBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SelfSubjectRulesReviewBuilder;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LeaderElectionTest {
  static final String NS = "tools";
  static final String LEASE_NS = "sg-system";
  static final Duration WAIT = Duration.ofSeconds(30);

  MockCluster cluster;
  RunningOperator a;
  RunningOperator b;

  static SessionGuardOperator.LeaderElection fastElection() {
    return new SessionGuardOperator.LeaderElection(
        SessionGuardOperator.LEASE_NAME,
        LEASE_NS,
        Duration.ofSeconds(3),
        Duration.ofSeconds(2),
        Duration.ofMillis(500),
        () -> {});
  }

  static Map<String, String> env(String podName) {
    return Map.of(
        "LEADER_ELECTION_ENABLED", "true", "POD_NAME", podName, "POD_NAMESPACE", LEASE_NS);
  }

  @BeforeEach
  void start() {
    cluster = new MockCluster();
    // JOSDK asks whether it may use leases before electing; the CRUD mock cannot answer that
    cluster
        .server
        .expect()
        .post()
        .withPath("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews")
        .andReturn(
            201,
            new SelfSubjectRulesReviewBuilder()
                .withNewStatus()
                .withResourceRules(
                    new ResourceRuleBuilder()
                        .withApiGroups("coordination.k8s.io")
                        .withResources("leases")
                        .withVerbs("get", "create", "update")
                        .build())
                .withIncomplete(false)
                .endStatus()
                .build())
        .always();
    a = new RunningOperator(cluster, env("op-a"), fastElection()).start();
    await().atMost(WAIT).until(() -> "op-a".equals(holder()));
    b = new RunningOperator(cluster, env("op-b"), fastElection()).start();
  }

  @AfterEach
  void stop() {
    a.close();
    b.close();
    cluster.close();
  }

  String holder() {
    var lease =
        cluster
            .client
            .leases()
            .inNamespace(LEASE_NS)
            .withName(SessionGuardOperator.LEASE_NAME)
            .get();
    return lease == null ? null : lease.getSpec().getHolderIdentity();
  }

  @Test
  void only_the_leader_reconciles_and_the_follower_takes_over_when_it_stops() {
    cluster.client.resource(MockCluster.policy(NS, "p", "vmcp")).create();
    await().atMost(WAIT).until(() -> a.reconciles() > 0);
    await()
        .during(Duration.ofSeconds(1))
        .atMost(Duration.ofSeconds(5))
        .until(() -> b.reconciles() == 0);
    // the follower's informers run, so it is ready to take over
    assertThat(b.operator.getRuntimeInfo().allEventSourcesAreHealthy()).isTrue();

    a.close();
    await().atMost(WAIT).until(() -> "op-b".equals(holder()));
    cluster.editPolicy(
        NS,
        "p",
        p -> {
          p.getSpec().sessions.max = 20;
        });
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(b.reconciles()).isPositive();
              assertThat(
                      cluster
                          .client
                          .configMaps()
                          .inNamespace(NS)
                          .withName("p-session-guard")
                          .get()
                          .getData()
                          .get("policy.json"))
                  .contains("\"max\" : 20");
            });
  }
}
