package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.InstanceOfAssertFactories.MAP;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sessionguard.policy.PolicyHash;
import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Event;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ReconcileTest {
  static final String NS = "tools";
  static final Duration WAIT = Duration.ofSeconds(20);

  MockCluster cluster;
  RunningOperator running;

  @BeforeEach
  void start() {
    cluster = new MockCluster();
    running = new RunningOperator(cluster, Map.of("WATCH_NAMESPACES", NS), null).start();
  }

  @AfterEach
  void stop() {
    running.close();
    cluster.close();
  }

  SessionPolicy get(String name) {
    return cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName(name).get();
  }

  ConfigMap configMap(String policy) {
    return cluster.client.configMaps().inNamespace(NS).withName(policy + "-session-guard").get();
  }

  static Condition accepted(SessionPolicy p) {
    return p.getStatus() == null ? null : Conditions.find(p.getStatus().conditions, "Accepted");
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> policyJson(ConfigMap cm) throws Exception {
    return new ObjectMapper().readValue(cm.getData().get("policy.json"), Map.class);
  }

  List<Event> warnings(String name) {
    return cluster.client.v1().events().inNamespace(NS).list().getItems().stream()
        .filter(e -> e.getInvolvedObject().getName().equals(name))
        .filter(e -> e.getType().equals("Warning"))
        .toList();
  }

  SessionPolicy createAndWaitAccepted(String name) {
    cluster.deployment(NS, "vmcp-" + name, 1);
    cluster.client.resource(MockCluster.policy(NS, name, "vmcp-" + name)).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(configMap(name)).isNotNull();
              assertThat(accepted(get(name))).extracting(c -> c.status).isEqualTo("True");
            });
    return get(name);
  }

  @Test
  void a_new_policy_gets_an_owned_configmap_with_its_hash_and_is_accepted() throws Exception {
    var p = createAndWaitAccepted("github");

    var cm = configMap("github");
    var json = policyJson(cm);
    var hash = PolicyHash.of(p.getSpec());
    assertThat(json)
        .containsEntry("schemaVersion", 1)
        .containsEntry("name", "github")
        .containsEntry("generation", 1)
        .containsEntry("hash", hash);
    assertThat(json.get("sessions")).asInstanceOf(MAP).containsEntry("max", 100);
    assertThat(cm.getMetadata().getOwnerReferences())
        .singleElement()
        .satisfies(o -> assertThat(o.getUid()).isEqualTo(p.getMetadata().getUid()));

    var status = p.getStatus();
    assertThat(status.observedGeneration).isEqualTo(p.getMetadata().getGeneration());
    assertThat(status.policyHash).isEqualTo(hash);
    assertThat(status.store).isEqualTo("Memory");
    var accepted = accepted(p);
    assertThat(accepted.reason).isEqualTo("Valid");
    assertThat(accepted.observedGeneration).isEqualTo(1L);
    assertThat(accepted.lastTransitionTime).isNotBlank();
    assertThat(warnings("github")).isEmpty();
  }

  @Test
  void changing_limits_rewrites_the_configmap_and_the_hash() throws Exception {
    var before = createAndWaitAccepted("limits");
    var oldHash = before.getStatus().policyHash;
    var acceptedAt = accepted(before).lastTransitionTime;

    cluster.editPolicy(
        NS,
        "limits",
        p -> {
          p.getSpec().sessions.max = 40;
          p.getSpec().sessions.perClient = 4;
        });

    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var p = get("limits");
              assertThat(p.getStatus().observedGeneration).isEqualTo(2L);
              assertThat(p.getStatus().policyHash)
                  .isNotEqualTo(oldHash)
                  .isEqualTo(PolicyHash.of(p.getSpec()));
              var json = policyJson(configMap("limits"));
              assertThat(json).containsEntry("hash", p.getStatus().policyHash);
              assertThat(json).containsEntry("generation", 2);
              assertThat(json.get("sessions")).asInstanceOf(MAP).containsEntry("max", 40);
            });
    // still Accepted: the condition did not transition
    assertThat(accepted(get("limits")).lastTransitionTime).isEqualTo(acceptedAt);
  }

  @Test
  void an_invalid_spec_is_refused_with_every_problem_and_the_last_good_configmap_stays()
      throws Exception {
    var good = createAndWaitAccepted("bad");
    var goodJson = configMap("bad").getData().get("policy.json");

    // the schema's CEL rules would refuse these; the mock does not run CEL, the operator must
    cluster.editPolicy(
        NS,
        "bad",
        p -> {
          p.getSpec().sessions.perClient = 500;
          p.getSpec().requests.perClientInFlight = 5000;
        });

    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var accepted = accepted(get("bad"));
              assertThat(accepted.status).isEqualTo("False");
              assertThat(accepted.reason).isEqualTo("Invalid");
              assertThat(accepted.message)
                  .contains("sessions.perClient (500) must not exceed sessions.max (100)")
                  .contains("requests.perClientInFlight (5000) must not exceed");
              assertThat(warnings("bad")).hasSize(1);
            });
    var refused = get("bad");
    assertThat(refused.getStatus().observedGeneration).isEqualTo(2L);
    // what is kept about the last good spec says so: kubectl wait does not take it for the new one
    assertThat(Conditions.find(refused.getStatus().conditions, "Injected").observedGeneration)
        .isEqualTo(1L);
    assertThat(Conditions.find(refused.getStatus().conditions, "Ready").observedGeneration)
        .isEqualTo(1L);
    assertThat(refused.getStatus().policyHash).isEqualTo(good.getStatus().policyHash);
    assertThat(configMap("bad").getData().get("policy.json")).isEqualTo(goodJson);

    // another reconcile (an event on the ConfigMap) neither warns again nor touches the ConfigMap
    double reconciles = running.reconciles();
    touch("bad");
    await().atMost(WAIT).until(() -> running.reconciledPast(reconciles));
    assertThat(warnings("bad")).hasSize(1);
    assertThat(configMap("bad").getData().get("policy.json")).isEqualTo(goodJson);
    assertThat(warnings("bad").get(0).getReason()).isEqualTo("InvalidSpec");
    // for kstatus (Flux, Helm --wait), which reads status.observedGeneration, then conditions
    var stalled = Conditions.find(get("bad").getStatus().conditions, "Stalled");
    assertThat(stalled.status).isEqualTo("True");
    assertThat(stalled.reason).isEqualTo("Invalid");
    assertThat(stalled.observedGeneration).isEqualTo(2L);

    cluster.editPolicy(
        NS,
        "bad",
        p -> {
          p.getSpec().sessions.perClient = good.getSpec().sessions.perClient;
          p.getSpec().requests.perClientInFlight = good.getSpec().requests.perClientInFlight;
        });
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(accepted(get("bad")).status).isEqualTo("True");
              assertThat(Conditions.find(get("bad").getStatus().conditions, "Stalled")).isNull();
            });
  }

  @Test
  void a_deleted_configmap_is_recreated() {
    createAndWaitAccepted("deleted");
    var expected = configMap("deleted").getData();
    cluster.client.configMaps().inNamespace(NS).withName("deleted-session-guard").delete();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              assertThat(configMap("deleted")).isNotNull();
              assertThat(configMap("deleted").getData()).isEqualTo(expected);
            });
  }

  @Test
  void a_configmap_edited_by_hand_is_restored() {
    createAndWaitAccepted("edited");
    var expected = configMap("edited").getData().get("policy.json");
    cluster.edit(
        ConfigMap.class,
        NS,
        "edited-session-guard",
        cm -> {
          cm.getData().put("policy.json", "{\"name\":\"edited\",\"sessions\":{\"max\":1}}");
          return cm;
        });
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> assertThat(configMap("edited").getData().get("policy.json")).isEqualTo(expected));
  }

  @Test
  void status_is_not_rewritten_when_nothing_changed() {
    createAndWaitAccepted("quiet");
    var statusWrites = MockCluster.writesTo("/sessionpolicies/quiet/status");
    // Accepted and Injected are reported in one or two writes (two when the injection lands
    // after the first status write, as on a busy machine); then the status settles.
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var status = get("quiet").getStatus();
              assertThat(status).isNotNull();
              assertThat(Conditions.find(status.conditions, "Injected")).isNotNull();
            });
    long settled = cluster.count(statusWrites);
    assertThat(settled).isBetween(1L, 2L);
    var policyWrites = MockCluster.writesTo("/sessionpolicies/quiet");
    long writes = cluster.count(policyWrites);

    // an event on the owned ConfigMap runs the reconcile again; it finds nothing to change
    double reconciles = running.reconciles();
    touch("quiet");
    await().atMost(WAIT).until(() -> running.reconciledPast(reconciles));
    // "nothing happens" needs a window: the count must stay where it settled for a while
    await()
        .during(Duration.ofMillis(800))
        .atMost(WAIT)
        .until(() -> cluster.count(statusWrites) == settled);
    assertThat(cluster.count(policyWrites)).isEqualTo(writes);
  }

  @Test
  void policies_outside_the_watched_namespaces_are_left_alone() {
    cluster.client.resource(MockCluster.policy("elsewhere", "other", "vmcp")).create();
    createAndWaitAccepted("here");
    // the operator never asked for anything there, nor for policies across namespaces: the
    // results below are not only "not yet"
    assertThat(
            cluster.count(
                s ->
                    s.operator()
                        && (s.path().contains("/namespaces/elsewhere")
                            || s.path().startsWith("/apis/sessionguard.dev/v1/sessionpolicies"))))
        .isZero();
    assertThat(cluster.client.configMaps().inNamespace("elsewhere").list().getItems()).isEmpty();
    assertThat(
            cluster
                .client
                .resources(SessionPolicy.class)
                .inNamespace("elsewhere")
                .withName("other")
                .get()
                .getStatus())
        .isNull();
  }

  private void touch(String policy) {
    cluster.edit(
        ConfigMap.class,
        NS,
        policy + "-session-guard",
        cm -> {
          cm.getMetadata().getLabels().put("touched", "yes");
          return cm;
        });
  }

  @Test
  void a_name_too_long_for_the_guards_service_is_refused() {
    var name = "p".repeat(SessionPolicyReconciler.MAX_NAME + 1);
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, name, "vmcp")).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var accepted = accepted(get(name));
              assertThat(accepted.reason).isEqualTo("Invalid");
              assertThat(accepted.message).contains("metadata.name is longer than 57");
            });
    assertThat(configMap(name)).isNull();
  }

  @Test
  void a_policy_without_a_spec_is_refused_as_invalid() {
    var p = MockCluster.policy(NS, "bare", "vmcp");
    p.setSpec(null);
    cluster.client.resource(p).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var accepted = accepted(get("bare"));
              assertThat(accepted.reason).isEqualTo("Invalid");
              assertThat(accepted.message).contains("spec is required");
            });

    // and it can be deleted (its finalizer goes)
    cluster.client.resources(SessionPolicy.class).inNamespace(NS).withName("bare").delete();
    await().atMost(WAIT).until(() -> get("bare") == null);
  }

  @Test
  void a_name_no_service_can_be_named_after_is_refused_with_the_rule() {
    // a valid object name (a DNS subdomain), but mcp.github-guard is no valid Service name
    cluster.deployment(NS, "vmcp", 1);
    cluster.client.resource(MockCluster.policy(NS, "mcp.github", "vmcp")).create();
    await()
        .atMost(WAIT)
        .untilAsserted(
            () -> {
              var accepted = accepted(get("mcp.github"));
              assertThat(accepted.reason).isEqualTo("Invalid");
              assertThat(accepted.message)
                  .contains("metadata.name must start with a lowercase letter")
                  .contains("mcp.github-guard");
            });
    assertThat(configMap("mcp.github")).isNull();
  }
}
