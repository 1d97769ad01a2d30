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
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Whole guards with {@code store.type: Redis} sharing one real redis-server. */
class RedisStoreGuardTest {
  static RedisServer redis;
  static StatefulRedisConnection<String, String> inspector;

  FastUpstream upstream;
  final List<Guard> guards = new ArrayList<>();

  @BeforeAll
  static void startRedis() {
    redis = RedisServer.start(); // skips without redis-server
  }

  @AfterAll
  static void stopRedis() {
    if (inspector != null) {
      inspector.close();
    }
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
    guards.clear();
    upstream.close();
    if (redis.running()) {
      redis.flushAll(); // tests share namespaces: none inherits another's orphans or tombstones
    }
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

  /**
   * A guard of policy {@code test} in {@code namespace}, as pod {@code pod}, on {@code upstream}.
   */
  Guard guard(String pod, String namespace, URI upstreamMcp, String yaml, Clock clock) {
    Guard g =
        Guard.start(
            TestGuards.config(upstreamMcp, yaml),
            clock,
            Map.of("POD_NAME", pod, "POD_NAMESPACE", namespace));
    guards.add(g);
    return g;
  }

  static String redisStore(String failureMode) {
    return "store: {type: Redis, redis: {url: '"
        + redis.url()
        + "', leaseTtl: 5s, failureMode: "
        + failureMode
        + "}}\n";
  }

  /** A connection of the test's own, to look at what the guards wrote. */
  static RedisCommands<String, String> redisCommands() {
    if (inspector == null || !inspector.isOpen()) {
      inspector = RedisClient.create(redis.url()).connect();
    }
    return inspector.sync();
  }

  static HttpRequest call(Guard g, String session, String client, String authorization) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(TestGuards.mcp(g))
            .header("Content-Type", "application/json")
            .header("Mcp-Session-Id", session)
            .header("X-Client", client)
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}"));
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return b.build();
  }

  static HttpResponse<String> deleteAs(Guard g, String session, String client) {
    return send(
        HttpRequest.newBuilder(TestGuards.mcp(g))
            .DELETE()
            .header("Mcp-Session-Id", session)
            .header("X-Client", client)
            .build());
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
  void a_client_deleting_a_stopped_guards_session_leaves_no_orphan_for_the_survivors()
      throws Exception {
    Guard a = guard("guard-a", "Open", "ns7");
    Guard b = guard("guard-b", "Open", "ns7");
    String s = sessionId(send(initialize(a, 1)));
    a.close(); // gives its lease back: its session becomes an orphan, no slot, not ended
    guards.remove(a);
    await()
        .untilAsserted(
            () ->
                assertThat(redisCommands().zrange("sessionguard:{ns7/test}:orphans", 0, -1))
                    .containsExactly(s));

    assertThat(delete(b, s).statusCode()).isEqualTo(200); // the upstream ends it

    assertThat(redisCommands().zcard("sessionguard:{ns7/test}:orphans")).isZero();
    assertThat(redisCommands().hlen("sessionguard:{ns7/test}:orphaned")).isZero();
    int seenBefore = upstream.seen.size();
    assertThat(send(call(b, s, "anyone", null)).statusCode()).isEqualTo(404); // remembered
    assertThat(upstream.seen).hasSize(seenBefore); // answered by the guard, not forwarded
    assertThat(b.sessions().active()).isZero();
  }

  @Test
  void evicting_a_session_another_guard_served_deletes_it_with_the_same_clients_token()
      throws Exception {
    upstream.credentialsRequired = true; // as vMCP: a DELETE without the client's token is refused
    String yaml =
        "identity: {source: Header, header: {name: X-Client}}\n"
            + "sessions: {max: 10, perClient: 1, onClientCap: EvictIdlest}\n"
            + redisStore("Open");
    Guard a = guard("guard-a", "ns8", upstream.mcpUrl("a"), yaml, Clock.systemUTC());
    Guard b = guard("guard-b", "ns8", upstream.mcpUrl("b"), yaml, Clock.systemUTC());
    String first =
        sessionId(
            send(initialize(a, 1, "X-Client", "alice", "Authorization", "Bearer alice-on-a")));

    String second =
        sessionId(
            send(initialize(b, 2, "X-Client", "alice", "Authorization", "Bearer alice-on-b")));

    assertThat(second).isNotEqualTo(first);
    await()
        .untilAsserted(
            () ->
                assertThat(upstream.seen)
                    .filteredOn(r -> r.method().equals("DELETE") && first.equals(r.sessionId()))
                    .extracting(FastUpstream.Seen::path, FastUpstream.Seen::authorization)
                    .containsExactly(
                        org.assertj.core.groups.Tuple.tuple("/b/mcp", "Bearer alice-on-b")));
    assertThat(upstream.live).doesNotContain(first).contains(second);
    assertThat(metric(b, "sessionguard_upstream_delete_failures_total")).isZero();
    assertThat(b.sessions().active()).isEqualTo(1);
  }

  @Test
  void policies_in_other_namespaces_do_not_share_counts() {
    Guard a = guard("guard-a", "Open", "ns1");
    Guard other = guard("guard-x", "Open", "ns2");
    for (int i = 1; i <= 3; i++) {
      sessionId(send(initialize(a, i)));
    }
    sessionId(send(initialize(other, 4))); // a's three fill its own cap only

    assertThat(a.sessions()).isInstanceOf(RedisSessionRegistry.class);
    assertThat(other.sessions()).isInstanceOf(RedisSessionRegistry.class);
    assertThat(a.sessions().active()).isEqualTo(3);
    assertThat(other.sessions().active()).isEqualTo(1);
    assertThat(redisCommands().keys("sessionguard:{ns1/test}:s:*")).hasSize(3);
    assertThat(redisCommands().keys("sessionguard:{ns2/test}:s:*")).hasSize(1);
    assertThat(send(initialize(a, 5)).statusCode()).isEqualTo(503);
  }

  @Test
  void another_clients_post_gets_404_and_starts_nothing_on_the_session_in_redis() {
    String yaml = "identity: {source: Header, header: {name: X-Client}}\n" + redisStore("Closed");
    Guard a = guard("guard-a", "ns9", upstream.mcpUrl(), yaml, Clock.systemUTC());
    Guard b = guard("guard-b", "ns9", upstream.mcpUrl(), yaml, Clock.systemUTC());
    String s = sessionId(send(initialize(a, 1, "X-Client", "alice")));
    String key = "sessionguard:{ns9/test}:s:" + s;
    int seen = upstream.seen.size();

    HttpResponse<String> bob = send(call(b, s, "bob", null));

    assertThat(bob.statusCode()).isEqualTo(404);
    assertThat(upstream.seen).hasSize(seen);
    // Bob's try recorded nothing: the session is still guard-a's, and not busy.
    assertThat(redisCommands().hmget(key, "guard", "busy"))
        .extracting(kv -> kv.getValueOrElse(null))
        .satisfiesExactly(
            guard -> assertThat(guard).startsWith("guard-a-"),
            busy -> assertThat(busy).isEqualTo("0"));
    // Alice's POST through guard-b starts there: guard-b owns the session from then on.
    assertThat(send(call(b, s, "alice", null)).statusCode()).isEqualTo(200);
    await()
        .untilAsserted(
            () ->
                assertThat(redisCommands().hmget(key, "guard", "busy"))
                    .extracting(kv -> kv.getValueOrElse(null))
                    .satisfiesExactly(
                        guard -> assertThat(guard).startsWith("guard-b-"),
                        busy -> assertThat(busy).isEqualTo("0")));
  }

  @Test
  void a_call_while_redis_stalls_is_still_answered_and_leaves_nothing_in_flight() throws Exception {
    Guard a = guard("guard-a", "Closed", "ns6");
    Guard b = guard("guard-b", "Closed", "ns6");
    String s = sessionId(send(initialize(a, 1)));
    assertThat(send(call(b, s, "anyone", null)).statusCode()).isEqualTo(200); // found in Redis

    // Redis holds every command for 2.5 s: the lookup times out (1 s), the guard counts Redis down
    // and serves the session it has seen.
    redis.pause(Duration.ofMillis(2500));
    HttpResponse<String> stalled = send(call(b, s, "anyone", null));

    assertThat(stalled.statusCode()).isEqualTo(200);
    assertThat(PolicyJson.json().readTree(stalled.body()).has("result")).isTrue();
    await()
        .atMost(Duration.ofSeconds(15))
        .until(() -> metric(b, "sessionguard_store_available") == 1);
    assertThat(send(call(b, s, "anyone", null)).statusCode()).isEqualTo(200);
    await().untilAsserted(() -> assertThat(metric(b, "sessionguard_inflight_requests")).isZero());
  }

  @Test
  void redis_down_with_failure_mode_closed_refuses_new_sessions_but_stays_ready() throws Exception {
    Guard a = guard("guard-a", "Closed", "ns3");
    String s = sessionId(send(initialize(a, 1)));

    redis.stop();
    await()
        .atMost(Duration.ofSeconds(10))
        .until(() -> metric(a, "sessionguard_store_available") == 0);
    HttpResponse<String> refused = send(initialize(a, 2));
    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(refused.headers().firstValue("Retry-After")).isPresent();
    JsonNode error = PolicyJson.json().readTree(refused.body());
    assertThat(error.at("/id").asInt()).isEqualTo(2);
    assertThat(error.at("/error/data/reason").asText()).isEqualTo("global_sessions");
    assertThat(send(call(a, s, "anyone", null)).statusCode()).isEqualTo(200); // known: served
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
  void three_guards_delete_each_idle_session_once_through_its_owner_with_its_clients_credentials()
      throws Exception {
    upstream.credentialsRequired = true; // as vMCP: a DELETE without the client's token is refused
    ManualClock clock = new ManualClock(Instant.now());
    String yaml =
        "identity: {source: Header, header: {name: X-Client}}\n"
            + "sessions: {max: 100, perClient: 20, idleTimeout: 5m}\n"
            + redisStore("Open");
    List<Guard> three = new ArrayList<>();
    for (int g = 0; g < 3; g++) {
      three.add(guard("g" + g, "ns5", upstream.mcpUrl("g" + g), yaml, clock));
    }
    Map<String, String> ownerPath = new HashMap<>();
    Map<String, String> clientOf = new HashMap<>();
    for (int i = 0; i < 30; i++) {
      String client = "c" + (i % 5);
      String id =
          sessionId(
              send(
                  initialize(
                      three.get(i % 3),
                      i,
                      "X-Client",
                      client,
                      "Authorization",
                      "Bearer " + client)));
      clientOf.put(id, client);
      ownerPath.put(id, "/g" + (i % 3) + "/mcp");
      if (i % 4 == 0) {
        // Served later through another guard: that guard saw the client last and owns it now.
        int next = (i + 1) % 3;
        assertThat(send(call(three.get(next), id, client, "Bearer " + client)).statusCode())
            .isEqualTo(200);
        ownerPath.put(id, "/g" + next + "/mcp");
      }
    }
    // The last POST's end travels to Redis without a reply: wait until it is there.
    await()
        .untilAsserted(
            () ->
                ownerPath.forEach(
                    (id, path) -> {
                      String owner =
                          redisCommands().hget("sessionguard:{ns5/test}:s:" + id, "guard");
                      assertThat(owner).as(id).startsWith(path.substring(1, 3) + "-");
                      assertThat(redisCommands().hget("sessionguard:{ns5/test}:s:" + id, "busy"))
                          .isEqualTo("0");
                    }));

    clock.advance(Duration.ofMinutes(5)); // every reaper sweeps once a second

    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> deletes().map(FastUpstream.Seen::sessionId).distinct().count() == 30);
    ownerPath.forEach(
        (id, path) ->
            assertThat(deletes().filter(d -> d.sessionId().equals(id)))
                .as(id)
                .singleElement()
                .satisfies(d -> assertThat(d.path()).isEqualTo(path))
                .satisfies(
                    d -> assertThat(d.authorization()).isEqualTo("Bearer " + clientOf.get(id))));
    assertThat(upstream.live).isEmpty();
    double reaped = 0;
    for (Guard g : three) {
      reaped += metric(g, "sessionguard_sessions_ended_total{reason=\"idle\"}");
      assertThat(metric(g, "sessionguard_upstream_delete_failures_total")).isZero();
    }
    assertThat(reaped).isEqualTo(30);
    await() // and not once more: later sweeps find nothing
        .during(Duration.ofSeconds(3))
        .atMost(Duration.ofSeconds(10))
        .until(() -> deletes().count() == 30);
  }

  java.util.stream.Stream<FastUpstream.Seen> deletes() {
    return upstream.seen.stream().filter(s -> s.method().equals("DELETE"));
  }

  @Test
  void redis_down_mid_traffic_with_failure_mode_open_admits_per_pod_and_reconciles_when_it_returns()
      throws Exception {
    String yaml =
        "identity: {source: Header, header: {name: X-Client}}\n"
            + "sessions: {max: 20, perClient: 3}\n"
            + redisStore("Open");
    Guard a = guard("guard-a", "ns6", upstream.mcpUrl(), yaml, Clock.systemUTC());
    Guard b = guard("guard-b", "ns6", upstream.mcpUrl(), yaml, Clock.systemUTC());
    String prefix = "sessionguard:{ns6/test}:";
    String bobs = sessionId(send(initialize(a, 1, "X-Client", "bob")));
    assertThat(send(call(b, bobs, "bob", null)).statusCode()).isEqualTo(200);

    // Bob keeps working through both guards while Redis goes away and comes back.
    AtomicBoolean outage = new AtomicBoolean();
    AtomicBoolean traffic = new AtomicBoolean(true);
    Map<Integer, Integer> during = new ConcurrentHashMap<>();
    Map<Integer, Integer> outside = new ConcurrentHashMap<>();
    Thread bob =
        new Thread(
            () -> {
              for (int i = 0; traffic.get(); i++) {
                int status = send(call(i % 2 == 0 ? a : b, bobs, "bob", null)).statusCode();
                (outage.get() ? during : outside).merge(status, 1, Integer::sum);
              }
            });
    bob.start();
    await().until(() -> outside.getOrDefault(200, 0) >= 10);

    outage.set(true);
    redis.stop();
    await()
        .atMost(Duration.ofSeconds(10))
        .until(
            () ->
                metric(a, "sessionguard_store_available") == 0
                    && metric(b, "sessionguard_store_available") == 0);

    // Open: admitted locally, under the same caps, which now hold per pod.
    List<String> alices = new ArrayList<>();
    for (Guard g : List.of(a, a, a, b, b, b)) {
      alices.add(sessionId(send(initialize(g, 2, "X-Client", "alice"))));
    }
    assertThat(send(initialize(a, 3, "X-Client", "alice")).statusCode()).isEqualTo(429);
    assertThat(send(initialize(b, 3, "X-Client", "alice")).statusCode()).isEqualTo(429);
    HttpResponse<String> ready = admin(a, "/readyz");
    assertThat(ready.statusCode()).isEqualTo(200);
    assertThat(ready.body()).contains("limits hold per pod (failureMode Open)");
    JsonNode store = PolicyJson.json().readTree(admin(a, "/sessions").body()).get("store");
    assertThat(store.get("available").asBoolean()).isFalse();
    assertThat(store.get("localSessions").asInt()).isEqualTo(3);
    assertThat(deleteAs(b, alices.get(5), "alice").statusCode()).isEqualTo(200); // replayed later
    await().until(() -> during.getOrDefault(200, 0) >= 10);

    redis.resume(); // empty: this Redis keeps nothing on disk
    await()
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                metric(a, "sessionguard_store_available") == 1
                    && metric(b, "sessionguard_store_available") == 1);
    outage.set(false);
    int before = outside.getOrDefault(200, 0);
    await().until(() -> outside.getOrDefault(200, 0) >= before + 10);
    traffic.set(false);
    bob.join();

    // Bob was never refused; his session, lost with Redis's memory, was adopted again.
    assertThat(during.keySet()).containsExactly(200);
    assertThat(outside.keySet()).containsExactly(200);
    // The sessions admitted during the outage are in Redis now, the deleted one is not: alice
    // holds 5 (over her cap of 3, admitted per pod), so she is refused until enough end.
    List<String> live = new ArrayList<>(alices.subList(0, 5));
    live.add(bobs);
    assertThat(redisCommands().zrange(prefix + "sessions", 0, -1))
        .containsExactlyInAnyOrderElementsOf(live);
    assertThat(redisCommands().scard(prefix + "c:user:alice")).isEqualTo(5);
    assertThat(metric(a, "sessionguard_sessions_active")).isEqualTo(6);
    assertThat(send(initialize(b, 4, "X-Client", "alice")).statusCode()).isEqualTo(429);
    for (int i = 0; i < 3; i++) {
      assertThat(deleteAs(i % 2 == 0 ? a : b, alices.get(i), "alice").statusCode()).isEqualTo(200);
    }
    sessionId(send(initialize(b, 5, "X-Client", "alice")));
    assertThat(redisCommands().scard(prefix + "c:user:alice")).isEqualTo(3);
  }

  @Test
  void a_reload_that_changes_the_store_keeps_the_running_registry() throws Exception {
    Guard g = TestGuards.start(upstream.mcpUrl(), "sessions: {max: 3, perClient: 3}\n");
    guards.add(g);
    PolicyFile redisPolicy =
        TestGuards.policy(
            "sessions: {max: 2, perClient: 2}\n"
                + "store: {type: Redis, redis: {url: '"
                + redis.url()
                + "'}}\n");

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
