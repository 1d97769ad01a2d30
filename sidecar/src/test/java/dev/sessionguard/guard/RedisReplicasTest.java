package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.testing.RedisServer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Whole guard processes sharing one real redis-server in front of one MCP server, as the replicas
 * of a workload do: the caps hold across them, a guard killed with SIGKILL gives its slots back
 * within its lease, and an idle session is deleted upstream by the guard that holds its client's
 * credentials.
 */
class RedisReplicasTest {
  static final String PREFIX = "sessionguard:{replicas}:";

  /**
   * Short, so a dead guard's slots come back quickly; not the 1s minimum, which a guard starved of
   * CPU on a loaded build machine can miss renewing (and then loses its sessions' slots).
   */
  static final String LEASE = "2s";

  static RedisServer redis;
  static RedisClient redisClient;
  static StatefulRedisConnection<String, String> connection;

  @TempDir Path dir;
  FastUpstream upstream;
  final List<GuardProcess> guards = new ArrayList<>();

  @BeforeAll
  static void startRedis() {
    redis = RedisServer.start(); // skips (or fails, when externals are required) without it
    redisClient = RedisClient.create(redis.url());
    connection = redisClient.connect();
  }

  @AfterAll
  static void stopRedis() {
    if (connection != null) {
      connection.close();
      redisClient.shutdown();
    }
    if (redis != null) {
      redis.close();
    }
  }

  @BeforeEach
  void upstream() throws Exception {
    redis().flushall();
    upstream = new FastUpstream();
  }

  @AfterEach
  void stop() {
    guards.forEach(GuardProcess::close);
    guards.forEach(GuardProcess::printLog); // the guards' own account, for a failure
    upstream.close();
  }

  static RedisCommands<String, String> redis() {
    return connection.sync();
  }

  /** Starts the guards together (their JVMs start in parallel), each on its own upstream path. */
  List<GuardProcess> guards(String spec, String leaseTtl, String... names) throws Exception {
    Path policy = dir.resolve("policy.yaml");
    Files.writeString(
        policy,
        "name: replicas\n"
            + "identity: {source: Header, header: {name: X-Client}}\n"
            + spec
            + "store: {type: Redis, redis: {url: '"
            + redis.url()
            + "', leaseTtl: "
            + leaseTtl
            + ", failureMode: Closed}}\n");
    List<GuardProcess> started = new ArrayList<>();
    for (String name : names) {
      GuardProcess g = GuardProcess.start(name, policy, upstream.mcpUrl(name));
      guards.add(g);
      started.add(g);
    }
    started.forEach(GuardProcess::awaitStarted);
    return started;
  }

  static HttpRequest initialize(GuardProcess guard, String client, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(guard.mcp())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .header("X-Client", client)
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                        + "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
                        + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b.build();
  }

  static String open(GuardProcess guard, String client, String... headers) {
    HttpResponse<String> r = TestGuards.send(initialize(guard, client, headers));
    assertThat(r.statusCode())
        .as("initialize through %s: %s", guard.name(), r.body())
        .isEqualTo(200);
    return r.headers().firstValue("Mcp-Session-Id").orElseThrow();
  }

  static HttpResponse<String> delete(GuardProcess guard, String client, String session) {
    return TestGuards.send(
        HttpRequest.newBuilder(guard.mcp())
            .DELETE()
            .header("Mcp-Session-Id", session)
            .header("X-Client", client)
            .build());
  }

  /** Keys that hold a count or a record ({@link RedisServer#countingKey}). */
  static List<String> countingKeys() {
    return redis().keys(PREFIX + "*").stream()
        .map(k -> k.substring(PREFIX.length()))
        .filter(RedisServer::countingKey)
        .sorted()
        .toList();
  }

  long deletes(String session, String path) {
    return upstream.seen.stream()
        .filter(s -> s.method().equals("DELETE") && session.equals(s.sessionId()))
        .filter(s -> path == null || s.path().equals(path))
        .count();
  }

  @Test
  void three_guards_racing_1500_initializes_never_exceed_the_caps_and_deletes_bring_redis_to_zero()
      throws Exception {
    List<GuardProcess> three =
        guards(
            "sessions: {max: 100, perClient: 10}\n"
                + "requests: {maxInFlight: 2000, perClientInFlight: 2000}\n",
            "30s", // a race on a loaded machine is not the place to test leases
            "guard-a",
            "guard-b",
            "guard-c");
    // Redis's own view while they race: live sessions plus reservations never pass the cap.
    AtomicBoolean racing = new AtomicBoolean(true);
    AtomicLong mostHeld = new AtomicLong();
    Thread sampler =
        new Thread(
            () -> {
              try (var own = redisClient.connect()) {
                while (racing.get()) {
                  long held =
                      own.sync().zcard(PREFIX + "sessions")
                          + own.sync().hlen(PREFIX + "reservations");
                  mostHeld.accumulateAndGet(held, Math::max);
                }
              }
            });
    sampler.start();

    ExecutorService pool = Executors.newFixedThreadPool(96);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<HttpResponse<String>>> answers = new ArrayList<>();
    List<String> clients = new ArrayList<>();
    for (int i = 0; i < 1_500; i++) {
      GuardProcess guard = three.get(i % 3);
      // Three heavy clients send half the requests and meet their own cap; twelve light ones
      // fill the rest up to the global cap.
      String client = i % 2 == 0 ? "heavy-" + (i / 2 % 3) : "light-" + (i / 2 % 12);
      clients.add(client);
      answers.add(
          pool.submit(
              () -> {
                go.await();
                return TestGuards.send(initialize(guard, client));
              }));
    }
    long start = System.nanoTime();
    go.countDown();
    Map<String, List<String>> admitted = new HashMap<>();
    Map<Integer, Integer> statuses = new HashMap<>();
    for (int i = 0; i < answers.size(); i++) {
      HttpResponse<String> r = answers.get(i).get();
      statuses.merge(r.statusCode(), 1, Integer::sum);
      if (r.statusCode() / 100 == 2 && r.headers().firstValue("Mcp-Session-Id").isPresent()) {
        admitted
            .computeIfAbsent(clients.get(i), c -> new ArrayList<>())
            .add(r.headers().firstValue("Mcp-Session-Id").get());
      }
    }
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    racing.set(false);
    sampler.join();
    pool.shutdown();
    System.out.printf(
        "1500 initializes through 3 guard processes: %d ms, %s%n", took.toMillis(), statuses);

    assertThat(statuses.keySet())
        .as("admissions and refusals by both caps")
        .containsExactlyInAnyOrder(200, 429, 503);
    int count = admitted.values().stream().mapToInt(List::size).sum();
    // The caps are the invariant. The cap is filled, short of the few admissions a starved
    // machine may refuse when a store call times out (503, as the store's failureMode says).
    assertThat(count).isBetween(90, 100);
    assertThat(admitted.values()).allSatisfy(ids -> assertThat(ids).hasSizeLessThanOrEqualTo(10));
    assertThat(mostHeld.get()).isLessThanOrEqualTo(100);
    assertThat(upstream.initializes.get()) // nothing refused by a cap reached it
        .isBetween(count, 100);
    assertThat(redis().zcard(PREFIX + "sessions")).isEqualTo(count);
    assertThat(redis().hlen(PREFIX + "reservations")).isZero();
    admitted.forEach(
        (client, ids) ->
            assertThat(redis().scard(PREFIX + "c:user:" + client))
                .as(client)
                .isEqualTo(ids.size()));
    for (GuardProcess g : three) {
      assertThat(g.metric("sessionguard_sessions_active")).isEqualTo(count);
    }

    // Every session ended through a guard other than the one that admitted it.
    int n = 0;
    for (var entry : admitted.entrySet()) {
      for (String id : entry.getValue()) {
        assertThat(delete(three.get(n++ % 3), entry.getKey(), id).statusCode()).isEqualTo(200);
      }
    }
    assertThat(upstream.live).isEmpty();
    assertThat(redis().zcard(PREFIX + "sessions")).isZero();
    assertThat(countingKeys()).isEmpty();
    for (GuardProcess g : three) {
      assertThat(g.metric("sessionguard_sessions_active")).isZero();
    }
  }

  @Test
  void a_guard_killed_with_sigkill_gives_its_slots_back_once_its_lease_lapses() throws Exception {
    List<GuardProcess> two =
        guards("sessions: {max: 10, perClient: 10}\n", LEASE, "guard-a", "guard-b");
    GuardProcess doomed = two.get(0);
    GuardProcess survivor = two.get(1);
    List<String> held = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      held.add(open(doomed, i % 2 == 0 ? "alice" : "bob"));
    }
    assertThat(TestGuards.send(initialize(survivor, "carol")).statusCode()).isEqualTo(503);
    String doomedId = doomed.guardId();
    assertThat(redis().zcard(PREFIX + "g:" + doomedId + ":s")).isEqualTo(10);

    long killedAt = System.nanoTime();
    doomed.kill();

    await()
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> redis().zcard(PREFIX + "sessions") == 0);
    Duration recovered = Duration.ofNanos(System.nanoTime() - killedAt);
    System.out.printf(
        "slots back %d ms after SIGKILL (leaseTtl %s)%n", recovered.toMillis(), LEASE);
    // Survivors purge at their next renewal (every leaseTtl/3) after the lease lapsed: the time
    // is printed, not asserted (a loaded machine's scheduling is not the guard's).
    assertThat(redis().exists(PREFIX + "lease:" + doomedId)).isZero();
    assertThat(redis().smembers(PREFIX + "guards")).containsExactly(survivor.guardId());
    assertThat(redis().keys(PREFIX + "g:" + doomedId + ":*")).isEmpty();
    assertThat(redis().zrange(PREFIX + "orphans", 0, -1)).containsExactlyInAnyOrderElementsOf(held);

    // The survivor admits up to the cap again, and not past it.
    for (int i = 0; i < 10; i++) {
      open(survivor, "carol-" + i);
    }
    assertThat(TestGuards.send(initialize(survivor, "dave")).statusCode()).isEqualTo(503);
    assertThat(redis().zcard(PREFIX + "g:" + survivor.guardId() + ":s")).isEqualTo(10);
    assertThat(survivor.metric("sessionguard_sessions_active")).isEqualTo(10);
  }

  @Test
  void
      an_idle_session_is_deleted_by_the_guard_holding_its_clients_credentials_and_orphans_by_a_survivor()
          throws Exception {
    upstream.credentialsRequired = true; // as vMCP: every request must authenticate
    List<GuardProcess> two =
        guards(
            "sessions: {max: 50, perClient: 50, idleTimeout: 5s, maxLifetime: 1h}\n",
            LEASE,
            "guard-a",
            "guard-b");
    GuardProcess a = two.get(0);
    GuardProcess b = two.get(1);
    Map<String, String> owner = new ConcurrentHashMap<>();
    for (int i = 0; i < 8; i++) {
      owner.put(open(a, "alice", "Authorization", "Bearer alice"), "/guard-a/mcp");
    }
    for (int i = 0; i < 2; i++) {
      owner.put(open(b, "bob", "Authorization", "Bearer bob"), "/guard-b/mcp");
    }

    // Both guards sweep every second; only each session's owner may claim it.
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> owner.keySet().stream().allMatch(id -> deletes(id, null) > 0));
    owner.forEach(
        (id, path) -> {
          assertThat(deletes(id, null)).as(id).isEqualTo(1);
          assertThat(deletes(id, path)).as("deleted by its owner, through %s", path).isEqualTo(1);
        });
    assertThat(upstream.seen)
        .filteredOn(s -> s.method().equals("DELETE"))
        .allSatisfy(
            s ->
                assertThat(s.authorization())
                    .isEqualTo(s.path().equals("/guard-a/mcp") ? "Bearer alice" : "Bearer bob"));
    assertThat(upstream.live).isEmpty();
    assertThat(a.metric("sessionguard_sessions_ended_total{reason=\"idle\"}")).isEqualTo(8);
    assertThat(b.metric("sessionguard_sessions_ended_total{reason=\"idle\"}")).isEqualTo(2);
    assertThat(b.metric("sessionguard_upstream_delete_failures_total")).isZero();

    // A dies holding sessions: their slots come back with its lease; once idle, the survivor
    // claims each orphan once and tries the DELETE, without credentials it never had.
    List<String> orphans = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      orphans.add(open(a, "alice", "Authorization", "Bearer alice"));
    }
    a.kill();
    await()
        .atMost(Duration.ofSeconds(30))
        .untilAsserted(
            () -> {
              assertThat(redis().zcard(PREFIX + "sessions")).isZero();
              assertThat(redis().zrange(PREFIX + "orphans", 0, -1))
                  .containsExactlyInAnyOrderElementsOf(orphans);
            });
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> b.metric("sessionguard_upstream_delete_failures_total") == 4);
    for (String id : orphans) {
      assertThat(deletes(id, "/guard-b/mcp")).as(id).isEqualTo(1);
      assertThat(redis().exists(PREFIX + "t:" + id)).isEqualTo(1); // a later request: 404
    }
    assertThat(upstream.seen)
        .filteredOn(s -> s.method().equals("DELETE") && orphans.contains(s.sessionId()))
        .allSatisfy(s -> assertThat(s.authorization()).isNull());
    assertThat(upstream.live).containsExactlyInAnyOrderElementsOf(orphans); // refused: they leak
    assertThat(countingKeys()).isEmpty();
    // Exactly once: further sweeps claim nothing more.
    long all = upstream.seen.stream().filter(s -> s.method().equals("DELETE")).count();
    await()
        .during(Duration.ofSeconds(3))
        .atMost(Duration.ofSeconds(10))
        .until(
            () -> upstream.seen.stream().filter(s -> s.method().equals("DELETE")).count() == all);
  }
}
