package dev.sessionguard.guard;

import static dev.sessionguard.guard.TestGuards.delete;
import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.RedisSessionRegistry;
import dev.sessionguard.guard.testing.RedisServer;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyJson;
import dev.sessionguard.policy.PolicyValidator;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Whole guards with {@code store.type: Redis} sharing one real redis-server. */
class RedisStoreGuardTest {
  static RedisServer redis;

  FastUpstream upstream;
  final List<Guard> guards = new ArrayList<>();

  @BeforeAll
  static void startRedis() {
    redis = RedisServer.start(); // skips without redis-server
  }

  @AfterAll
  static void stopRedis() {
    if (redis != null) {
      redis.close();
    }
  }

  @BeforeEach
  void upstream() throws Exception {
    if (!redis.running()) {
      redis.resume();
    }
    upstream = new FastUpstream();
  }

  @AfterEach
  void stop() {
    guards.forEach(Guard::close);
    upstream.close();
  }

  Guard guard(String pod, String failureMode, String scopeNamespace) {
    String yaml =
        "sessions: {max: 3, perClient: 3}\n"
            + "store: {type: Redis, redis: {url: '"
            + redis.url()
            + "', leaseTtl: 5s, failureMode: "
            + failureMode
            + "}}\n";
    Guard g =
        Guard.start(
            TestGuards.config(upstream.mcpUrl(), yaml),
            Clock.systemUTC(),
            Map.of("POD_NAME", pod, "POD_NAMESPACE", scopeNamespace));
    guards.add(g);
    return g;
  }

  static String sessionId(HttpResponse<String> r) {
    assertThat(r.statusCode()).isEqualTo(200);
    return r.headers().firstValue("Mcp-Session-Id").orElseThrow();
  }

  static HttpResponse<String> admin(Guard g, String path) {
    return send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + g.adminPort() + path)).build());
  }

  @Test
  void two_guards_share_the_global_cap_and_a_delete_frees_a_slot_for_the_other() throws Exception {
    Guard a = guard("guard-a", "Open", "ns1");
    Guard b = guard("guard-b", "Open", "ns1");
    assertThat(a.sessions()).isInstanceOf(RedisSessionRegistry.class);
    assertThat(metric(a, "sessionguard_store_available")).isEqualTo(1);
    assertThat(metric(b, "sessionguard_store_available")).isEqualTo(1);

    String a1 = sessionId(send(initialize(a, 1)));
    sessionId(send(initialize(a, 2)));
    sessionId(send(initialize(b, 3)));

    HttpResponse<String> viaA = send(initialize(a, 4));
    HttpResponse<String> viaB = send(initialize(b, 5));
    assertThat(viaA.statusCode()).isEqualTo(503);
    assertThat(viaB.statusCode()).isEqualTo(503);
    assertThat(PolicyJson.json().readTree(viaB.body()).at("/error/data/reason").asText())
        .isEqualTo("global_sessions");
    assertThat(upstream.initializes.get()).isEqualTo(3);
    assertThat(b.sessions().active()).isEqualTo(3); // the count is the shared one

    assertThat(delete(a, a1).statusCode()).isEqualTo(200);
    sessionId(send(initialize(b, 6))); // the slot A freed, taken through B
    assertThat(send(initialize(a, 7)).statusCode()).isEqualTo(503);

    JsonNode sessions = PolicyJson.json().readTree(admin(a, "/sessions").body());
    assertThat(sessions.at("/store/type").asText()).isEqualTo("Redis");
    assertThat(sessions.at("/store/available").asBoolean()).isTrue();
    assertThat(sessions.get("active").asInt()).isEqualTo(3);
  }

  @Test
  void policies_in_other_namespaces_do_not_share_counts() {
    Guard a = guard("guard-a", "Open", "ns1");
    Guard other = guard("guard-x", "Open", "ns2");
    for (int i = 1; i <= 3; i++) {
      sessionId(send(initialize(a, i)));
    }
    sessionId(send(initialize(other, 4)));
  }

  @Test
  void redis_down_with_failure_mode_closed_refuses_new_sessions_but_stays_ready() {
    Guard a = guard("guard-a", "Closed", "ns3");
    String s = sessionId(send(initialize(a, 1)));

    redis.stop();
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> metric(a, "sessionguard_store_available") == 0);
    assertThat(send(initialize(a, 2)).statusCode()).isEqualTo(503);
    HttpResponse<String> ready = admin(a, "/readyz");
    assertThat(ready.statusCode()).isEqualTo(200);
    assertThat(ready.body()).contains("ready").contains("store unavailable");
    assertThat(admin(a, "/sessions").body()).contains("\"available\":false");

    redis.resume(); // empty: the session is copied back from the guard
    await()
        .atMost(Duration.ofSeconds(15))
        .until(() -> metric(a, "sessionguard_store_available") == 1);
    assertThat(admin(a, "/readyz").body()).isEqualTo("ready");
    sessionId(send(initialize(a, 3)));
    assertThat(delete(a, s).statusCode()).isEqualTo(200);
  }

  @Test
  void a_reload_that_changes_the_store_keeps_the_running_registry() throws Exception {
    Guard g = TestGuards.start(upstream.mcpUrl(), "sessions: {max: 3, perClient: 3}\n");
    guards.add(g);
    PolicyFile redisPolicy =
        PolicyFile.parse(
            "name: test\nguard: {port: 4484, adminPort: 9484}\n"
                + "sessions: {max: 2, perClient: 2}\n"
                + "store: {type: Redis, redis: {url: '"
                + redis.url()
                + "'}}\n",
            PolicyValidator.Mode.STANDALONE);

    assertThat(g.reload(redisPolicy, TestGuards.overrides(upstream.mcpUrl()))).isTrue();
    assertThat(g.sessions()).isInstanceOf(MemorySessionRegistry.class);
    assertThat(g.policy().get().sessionCaps().max()).isEqualTo(2); // the rest applies
  }

  @Test
  void memory_store_reports_available() {
    Guard g = TestGuards.start(upstream.mcpUrl(), "sessions: {max: 3, perClient: 3}\n");
    guards.add(g);
    assertThat(metric(g, "sessionguard_store_available")).isEqualTo(1);
    assertThat(admin(g, "/sessions").body()).contains("\"type\":\"Memory\"");
  }
}
