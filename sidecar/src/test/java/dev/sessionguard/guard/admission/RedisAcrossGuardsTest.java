package dev.sessionguard.guard.admission;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.sessionguard.guard.ManualClock;
import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import io.lettuce.core.AclSetuserArgs;
import io.lettuce.core.ScriptOutputType;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Several guards (registries) sharing one real Redis: the caps hold for all of them. */
class RedisAcrossGuardsTest {
  static final Duration IDLE = Duration.ofMinutes(5);
  static final Duration LIFE = Duration.ofHours(1);
  static final Duration HARD = Duration.ofSeconds(20);
  static final Duration SHORT_LEASE = Duration.ofSeconds(2);

  static RedisFixture redis;

  final ManualClock clock = new ManualClock();

  @BeforeAll
  static void startRedis() {
    redis = new RedisFixture();
  }

  @AfterAll
  static void stopRedis() {
    if (redis != null) {
      redis.close();
    }
  }

  @AfterEach
  void reset() {
    if (!redis.server.running()) {
      redis.server.resume();
    }
    redis.reset();
  }

  static Session open(SessionRegistry guard, String client, String id, SessionCaps caps) {
    var admission = guard.admit(client, caps, false, false);
    assertThat(admission).isInstanceOf(Admission.Admitted.class);
    return guard.confirm(((Admission.Admitted) admission).reservation(), id);
  }

  List<RedisSessionRegistry> guards(int n, Clock clock, Duration lease, FailureMode mode) {
    List<RedisSessionRegistry> guards = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      guards.add(redis.guard("guard-" + i, clock, lease, mode));
    }
    return guards;
  }

  /** Busy counts travel without a reply: wait until Redis has them. */
  static void awaitBusy(String id, String busy) {
    await()
        .untilAsserted(
            () ->
                assertThat(redis.redis().hget("sessionguard:{test-policy}:s:" + id, "busy"))
                    .isEqualTo(busy));
  }

  @Test
  void three_guards_racing_1500_admissions_never_exceed_the_caps_and_counts_return_to_zero()
      throws Exception {
    var caps = new SessionCaps(100, 10, false);
    var guards = guards(3, Clock.systemUTC(), Duration.ofSeconds(30), FailureMode.Open);
    var watcher = redis.redis();
    AtomicBoolean racing = new AtomicBoolean(true);
    AtomicInteger mostSeen = new AtomicInteger();
    Thread sampler =
        new Thread(
            () -> {
              while (racing.get()) {
                long held =
                    watcher.zcard("sessionguard:{test-policy}:sessions")
                        + watcher.hlen("sessionguard:{test-policy}:reservations");
                mostSeen.accumulateAndGet((int) held, Math::max);
              }
            });
    sampler.start();

    ExecutorService pool = Executors.newFixedThreadPool(48);
    CountDownLatch start = new CountDownLatch(1);
    AtomicInteger admitted = new AtomicInteger();
    List<Future<?>> futures = new ArrayList<>();
    for (int i = 0; i < 1_500; i++) {
      var guard = guards.get(i % 3);
      String client = "client-" + (i % 15);
      String id = "s-" + i;
      futures.add(
          pool.submit(
              () -> {
                start.await();
                if (guard.admit(client, caps, false, false) instanceof Admission.Admitted a) {
                  admitted.incrementAndGet();
                  guard.confirm(a.reservation(), id);
                }
                return null;
              }));
    }
    start.countDown();
    for (Future<?> f : futures) {
      f.get();
    }
    pool.shutdown();
    racing.set(false);
    sampler.join();

    assertThat(admitted.get()).isEqualTo(100);
    assertThat(mostSeen.get()).isLessThanOrEqualTo(100);
    for (var guard : guards) {
      assertThat(guard.active()).isEqualTo(100);
      assertThat(guard.storeAvailable()).isTrue();
    }
    var holders = guards.get(0).topHolders(100);
    assertThat(holders).allSatisfy(h -> assertThat(h.sessions()).isLessThanOrEqualTo(10));
    assertThat(holders.stream().mapToInt(SessionRegistry.Holder::sessions).sum()).isEqualTo(100);

    for (int i = 0; i < 1_500; i++) {
      guards.get((i + 1) % 3).end("s-" + i, EndReason.CLIENT);
    }
    assertThat(guards.get(2).active()).isZero();
    assertThat(guards.get(2).pending()).isZero();
    assertThat(guards.get(2).clients()).isZero();
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_dead_guards_session_whose_record_was_evicted_does_not_stop_the_purge() {
    var caps = new SessionCaps(2, 2, false);
    var crashed = redis.guard("crashed", clock, SHORT_LEASE, FailureMode.Closed);
    var survivor = redis.guard("survivor", clock, SHORT_LEASE, FailureMode.Closed);
    open(crashed, "alice", "c0", caps);
    open(crashed, "alice", "c1", caps);
    redis.redis().del("sessionguard:{test-policy}:s:c0"); // as an allkeys-* policy would
    crashed.halt();

    // The purge runs in the survivor's scripts: one that failed would fail every admission.
    await()
        .atMost(SHORT_LEASE.multipliedBy(5))
        .untilAsserted(
            () ->
                assertThat(survivor.admit("bob", caps, false, false))
                    .isInstanceOf(Admission.Admitted.class));
    assertThat(survivor.storeAvailable()).isTrue();
    assertThat(redis.redis().zrange("sessionguard:{test-policy}:orphans", 0, -1))
        .containsExactly("c1");
  }

  @Test
  void a_guard_that_stops_renewing_frees_its_slots_within_the_lease_ttl() {
    var caps = new SessionCaps(8, 8, false);
    var crashed = redis.guard("crashed", clock, SHORT_LEASE, FailureMode.Open);
    var survivor = redis.guard("survivor", clock, SHORT_LEASE, FailureMode.Open);
    for (int i = 0; i < 5; i++) {
      open(crashed, "alice", "c" + i, caps);
    }
    // An initialize in progress on the crashed guard holds a slot too.
    assertThat(crashed.admit("alice", caps, false, false)).isInstanceOf(Admission.Admitted.class);
    Session served = open(survivor, "bob", "s0", caps);
    // c4's last request went through the survivor: the survivor keeps it alive.
    Session c4 = ((Lookup.Known) survivor.lookup("c4")).session();
    survivor.requestStarted(c4, true);
    survivor.requestFinished(c4, true);
    open(survivor, "bob", "s1", caps);
    assertThat(survivor.admit("bob", caps, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));

    crashed.halt();

    await()
        .atMost(SHORT_LEASE.multipliedBy(5))
        .untilAsserted(() -> assertThat(survivor.active()).isEqualTo(3));
    assertThat(survivor.pending()).isZero();
    assertThat(survivor.lookup("s0")).isEqualTo(new Lookup.Known(served));
    assertThat(survivor.lookup("c4")).isInstanceOf(Lookup.Known.class);
    // Purged, not ended: a client still using c0 re-adopts it under the caps.
    assertThat(survivor.lookup("c0")).isInstanceOf(Lookup.Unknown.class);
    for (int i = 0; i < 5; i++) {
      assertThat(survivor.admit("carol", caps, false, false))
          .isInstanceOf(Admission.Admitted.class);
    }
    assertThat(survivor.admit("carol", caps, false, false)).isInstanceOf(Admission.Refused.class);
    assertThat(redis.redis().smembers("sessionguard:{test-policy}:guards"))
        .containsExactly("survivor");
  }

  @Test
  void each_expired_session_is_claimed_once_and_only_by_the_guard_that_owns_it() throws Exception {
    var caps = new SessionCaps(1_000, 1_000, false);
    var guards = guards(3, clock, Duration.ofSeconds(30), FailureMode.Open);
    Map<String, Integer> owner = new HashMap<>();
    for (int i = 0; i < 600; i++) {
      open(guards.get(i % 3), "client-" + (i % 7), "s-" + i, caps);
      owner.put("s-" + i, i % 3);
    }
    // A POST served through another guard makes that guard the owner (it saw the client last).
    for (int i = 0; i < 600; i += 10) {
      int next = (i + 1) % 3;
      Session s = ((Lookup.Known) guards.get(next).lookup("s-" + i)).session();
      guards.get(next).requestStarted(s, true);
      guards.get(next).requestFinished(s, true);
      owner.put("s-" + i, next);
    }
    Session busy = ((Lookup.Known) guards.get(2).lookup("s-1")).session();
    guards.get(2).requestStarted(busy, true);
    owner.put("s-1", 2);
    awaitBusy("s-1", "1");
    await()
        .untilAsserted(
            () ->
                assertThat(redis.redis().hget("sessionguard:{test-policy}:s:s-0", "guard"))
                    .isEqualTo("guard-1"));
    clock.advance(IDLE);

    ExecutorService pool = Executors.newFixedThreadPool(3);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<List<Ended>>> reaped = new ArrayList<>();
    for (var guard : guards) {
      reaped.add(
          pool.submit(
              () -> {
                start.await();
                List<Ended> ended = new ArrayList<>();
                for (int round = 0; round < 5; round++) {
                  ended.addAll(guard.expire(IDLE, LIFE, HARD));
                }
                return ended;
              }));
    }
    start.countDown();
    List<String> all = new ArrayList<>();
    for (int g = 0; g < 3; g++) {
      int guard = g;
      List<String> ids = reaped.get(g).get().stream().map(e -> e.session().id()).toList();
      assertThat(ids).allSatisfy(id -> assertThat(owner.get(id)).as(id).isEqualTo(guard));
      all.addAll(ids);
    }
    pool.shutdown();

    assertThat(all).hasSize(599).doesNotHaveDuplicates().doesNotContain("s-1");
    assertThat(guards.get(0).active()).isEqualTo(1);
    guards.get(2).requestFinished(busy, true);
    awaitBusy("s-1", "0");
    clock.advance(IDLE);
    assertThat(guards.get(0).expire(IDLE, LIFE, HARD)).isEmpty();
    assertThat(guards.get(1).expire(IDLE, LIFE, HARD)).isEmpty();
    assertThat(guards.get(2).expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("s-1");
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_dead_guards_sessions_free_their_slots_at_once_and_one_survivor_reaps_each_once_idle()
      throws Exception {
    var caps = new SessionCaps(10, 10, false);
    var crashed = redis.guard("crashed", clock, SHORT_LEASE, FailureMode.Open);
    var survivors =
        List.of(
            redis.guard("survivor-a", clock, SHORT_LEASE, FailureMode.Open),
            redis.guard("survivor-b", clock, SHORT_LEASE, FailureMode.Open));
    for (int i = 0; i < 6; i++) {
      open(crashed, "alice", "c" + i, caps);
    }
    clock.advance(IDLE.dividedBy(2));
    Session c0 = ((Lookup.Known) crashed.lookup("c0")).session();
    crashed.requestStarted(c0, true);
    crashed.requestFinished(c0, true); // c0 was active later than the others
    awaitBusy("c0", "0");

    crashed.halt();

    await()
        .atMost(SHORT_LEASE.multipliedBy(5))
        .untilAsserted(() -> assertThat(survivors.get(0).active()).isZero());
    assertThat(redis.redis().zcard("sessionguard:{test-policy}:orphans")).isEqualTo(6);
    assertThat(redis.countingKeys()).containsExactly("orphaned", "orphans");
    // The slots are free at once: the survivors admit up to the cap.
    for (int i = 0; i < 9; i++) {
      open(survivors.get(i % 2), "bob", "b" + i, caps);
    }
    // Alice comes back on c5 through a survivor: an adoption, so it is no orphan any more.
    assertThat(survivors.get(0).lookup("c5")).isInstanceOf(Lookup.Unknown.class);
    open(survivors.get(0), "alice", "c5", caps);
    // Alice ends c4 herself (a DELETE the upstream accepted): nobody is to reap it any more.
    assertThat(survivors.get(1).end("c4", EndReason.CLIENT)).isEmpty(); // it held no slot
    assertThat(redis.redis().zrange("sessionguard:{test-policy}:orphans", 0, -1))
        .containsExactlyInAnyOrder("c0", "c1", "c2", "c3");
    assertThat(survivors.get(0).lookup("c4")).isInstanceOf(Lookup.Ended.class);
    assertThat(survivors.get(1).admit("carol", caps, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
    for (int i = 0; i < 9; i++) {
      assertThat(survivors.get(i % 2).end("b" + i, EndReason.CLIENT)).isPresent();
    }
    Session c5 = ((Lookup.Known) survivors.get(0).lookup("c5")).session();
    survivors.get(0).requestStarted(c5, true); // in use: not idle

    // Orphans idle out like sessions (from their last activity), and each is claimed once.
    clock.advance(IDLE.dividedBy(2));
    ExecutorService pool = Executors.newFixedThreadPool(2);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<List<Ended>>> reaped = new ArrayList<>();
    for (var survivor : survivors) {
      reaped.add(
          pool.submit(
              () -> {
                start.await();
                List<Ended> ended = new ArrayList<>();
                for (int round = 0; round < 3; round++) {
                  ended.addAll(survivor.expire(IDLE, LIFE, HARD));
                }
                return ended;
              }));
    }
    start.countDown();
    List<Ended> ended = new ArrayList<>();
    for (var f : reaped) {
      ended.addAll(f.get());
    }
    pool.shutdown();
    assertThat(ended).extracting(e -> e.session().id()).containsExactlyInAnyOrder("c1", "c2", "c3");
    assertThat(ended).allSatisfy(e -> assertThat(e.session().client()).isEqualTo("alice"));
    assertThat(ended).allSatisfy(e -> assertThat(e.reason()).isEqualTo(EndReason.IDLE));
    assertThat(survivors.get(1).lookup("c1")).isInstanceOf(Lookup.Ended.class); // 404 later

    clock.advance(IDLE.dividedBy(2));
    assertThat(survivors.get(1).expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("c0");
    survivors.get(0).requestFinished(c5, true);
    assertThat(survivors.get(0).end("c5", EndReason.CLIENT)).isPresent();
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_session_in_use_through_another_guard_moves_to_it_when_its_owner_dies() {
    var caps = new SessionCaps(10, 10, false);
    var crashed = redis.guard("crashed", clock, SHORT_LEASE, FailureMode.Open);
    var survivor = redis.guard("survivor", clock, SHORT_LEASE, FailureMode.Open);
    open(crashed, "alice", "a1", caps);
    Session viaSurvivor = ((Lookup.Known) survivor.lookup("a1")).session();
    survivor.requestStarted(viaSurvivor, true); // a long POST through the survivor
    Session viaCrashed = ((Lookup.Known) crashed.lookup("a1")).session();
    crashed.requestStarted(viaCrashed, true); // the crashed guard served it last: its owner
    awaitBusy("a1", "2");

    crashed.halt();

    await()
        .atMost(SHORT_LEASE.multipliedBy(5))
        .untilAsserted(
            () ->
                assertThat(redis.redis().smembers("sessionguard:{test-policy}:guards"))
                    .containsExactly("survivor"));
    assertThat(survivor.active()).isEqualTo(1);
    assertThat(redis.redis().hget("sessionguard:{test-policy}:s:a1", "guard"))
        .isEqualTo("survivor");
    assertThat(redis.redis().zcard("sessionguard:{test-policy}:orphans")).isZero();
    survivor.requestFinished(viaSurvivor, true);
    awaitBusy("a1", "0");
    clock.advance(IDLE);
    assertThat(survivor.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
  }

  @Test
  void a_session_ended_by_another_guard_has_its_stream_closed_here() {
    var caps = new SessionCaps(10, 10, false);
    var guards = guards(2, clock, Duration.ofSeconds(30), FailureMode.Open);
    Session here = open(guards.get(0), "alice", "a1", caps);
    AtomicInteger closed = new AtomicInteger();
    here.onEnd(closed::incrementAndGet);

    assertThat(guards.get(1).end("a1", EndReason.CLIENT)).isPresent();
    assertThat(guards.get(0).expire(IDLE, LIFE, HARD)).isEmpty();

    assertThat(closed.get()).isEqualTo(1);
    assertThat(guards.get(0).lookup("a1")).isInstanceOf(Lookup.Ended.class);
  }

  @Test
  void in_dry_run_a_session_ended_by_another_guard_is_forgotten_here_with_its_stream_left_open() {
    var caps = new SessionCaps(10, 10, false);
    var guards = guards(2, clock, Duration.ofSeconds(30), FailureMode.Open);
    Session here = open(guards.get(0), "alice", "a1", caps);
    AtomicInteger closed = new AtomicInteger();
    here.onEnd(closed::incrementAndGet);

    assertThat(guards.get(1).end("a1", EndReason.CLIENT)).isPresent();
    assertThat(guards.get(0).expire(IDLE, LIFE, HARD, false)).isEmpty();
    assertThat(closed.get()).isZero();
    // forgotten in that pass, not kept for ever: a later pass has nothing of it left to close
    assertThat(guards.get(0).expire(IDLE, LIFE, HARD)).isEmpty();
    assertThat(closed.get()).isZero();
  }

  static final String KEYS = RedisStore.keyPrefix(RedisFixture.SCOPE);

  @Test
  void while_redis_is_down_an_id_known_as_another_clients_is_not_confirmed_for_a_second() {
    var caps = new SessionCaps(10, 10, false);
    var a = redis.guard("a", clock, SHORT_LEASE, FailureMode.Open);
    Session a1 = open(a, "alice", "a1", caps);
    var before = (Admission.Admitted) a.admit("bob", caps, false, false); // reserved in Redis

    redis.server.stop();
    var bobs = (Admission.Admitted) a.admit("bob", caps, false, false); // reserved here
    assertThat(a.storeAvailable()).isFalse();
    // an upstream that issues "a1" again, to bob, on either reservation
    assertThat(a.confirm(bobs.reservation(), "a1").client()).isEqualTo("alice");
    assertThat(a.confirm(before.reservation(), "a1").client()).isEqualTo("alice");
    assertThat(a.localSessions()).isZero();
    assertThat(a.lookup("a1")).isEqualTo(new Lookup.Known(a1));

    redis.server.resume(); // empty: alice's a1 is gone from it
    await()
        .atMost(Duration.ofSeconds(15))
        .untilAsserted(() -> assertThat(a.storeAvailable()).isTrue());
    // the replay released the Redis reservation: it recorded no session of bob's
    await()
        .untilAsserted(
            () -> assertThat(redis.redis().hget(KEYS + "s:a1", "client")).isNotEqualTo("bob"));
    assertThat(a.pending()).isZero();
  }

  @Test
  void open_admits_locally_while_redis_is_down_and_records_those_sessions_when_it_returns() {
    var caps = new SessionCaps(10, 10, false);
    var a = redis.guard("a", clock, SHORT_LEASE, FailureMode.Open);
    var b = redis.guard("b", clock, SHORT_LEASE, FailureMode.Open);
    Session a1 = open(a, "alice", "a1", caps);
    open(b, "bob", "b1", caps);
    var inProgress = (Admission.Admitted) a.admit("alice", caps, false, false);

    redis.server.stop();

    Session a2 = open(a, "alice", "a2", caps);
    assertThat(a.storeAvailable()).isFalse();
    assertThat(a.localSessions()).isEqualTo(1);
    // The initialize admitted before the outage completes: held locally too.
    Session a3 = a.confirm(inProgress.reservation(), "a3");
    assertThat(a.localSessions()).isEqualTo(2);
    assertThat(a.lookup("a1")).isEqualTo(new Lookup.Known(a1));
    assertThat(a.lookup("a2")).isEqualTo(new Lookup.Known(a2));
    assertThat(a.end("a1", EndReason.CLIENT)).containsSame(a1);
    assertThat(a.lookup("a1")).isInstanceOf(Lookup.Ended.class);
    a.requestStarted(a3, true);

    redis.server.resume(); // empty: this Redis keeps nothing on disk

    await()
        .atMost(Duration.ofSeconds(15))
        .untilAsserted(
            () -> {
              assertThat(a.storeAvailable()).isTrue();
              assertThat(b.storeAvailable()).isTrue();
              assertThat(a.localSessions()).isZero();
            });
    // a2 and a3 are in Redis now, a3 busy; b1 was lost with Redis's memory and is re-adopted.
    assertThat(b.lookup("a2")).isInstanceOf(Lookup.Known.class);
    assertThat(b.lookup("a3")).isInstanceOf(Lookup.Known.class);
    assertThat(b.lookup("b1")).isInstanceOf(Lookup.Unknown.class);
    assertThat(b.active()).isEqualTo(2);
    assertThat(redis.redis().hget("sessionguard:{test-policy}:s:a3", "busy")).isEqualTo("1");
    a.requestFinished(a3, true);
    awaitBusy("a3", "0");

    open(b, "bob", "b1", caps);
    assertThat(a.active()).isEqualTo(3);
    assertThat(b.pending()).isZero();
    for (String id : List.of("a2", "a3", "b1")) {
      assertThat(b.end(id, EndReason.CLIENT)).isPresent();
    }
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void closed_refuses_new_sessions_while_redis_is_down_and_serves_known_ones() {
    var caps = new SessionCaps(10, 10, false);
    var guard = redis.guard("closed", clock, SHORT_LEASE, FailureMode.Closed);
    Session a1 = open(guard, "alice", "a1", caps);

    redis.server.stop();

    assertThat(guard.admit("alice", caps, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
    assertThat(guard.storeAvailable()).isFalse();
    assertThat(guard.lookup("a1")).isEqualTo(new Lookup.Known(a1));
    var forced = (Admission.Admitted) guard.admit("alice", caps, false, true);
    assertThat(forced.wouldRefuse()).contains(Refusal.GLOBAL_SESSIONS);
    guard.cancel(forced.reservation());

    redis.server.resume();

    await()
        .atMost(Duration.ofSeconds(15))
        .untilAsserted(() -> assertThat(guard.storeAvailable()).isTrue());
    open(guard, "alice", "a2", caps);
    assertThat(guard.active()).isEqualTo(1);
    assertThat(guard.pending()).isZero();
  }

  @Test
  void a_guard_purged_while_serving_takes_back_the_session_it_serves_though_a_request_relet_first()
      throws Exception {
    var caps = new SessionCaps(8, 8, false);
    String prefix = RedisStore.keyPrefix(RedisFixture.SCOPE);
    var paused = redis.guard("paused", clock);
    var other = redis.guard("other", clock);
    Session served = open(paused, "alice", "p1", caps);
    open(paused, "alice", "p2", caps);
    assertThat(paused.requestStarted(served, true)).isTrue();
    awaitBusy("p1", "1");

    // The paused guard's lease lapses (a pause longer than leaseTtl) and the other guard purges
    // it, in one step here: its sessions become orphans and its POST stops holding p1 busy.
    String common;
    try (var in =
        RedisAcrossGuardsTest.class.getResourceAsStream(
            "/dev/sessionguard/guard/admission/redis/common.lua")) {
      common = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    redis
        .redis()
        .eval(
            common + "\nredis.call('DEL', lease_key('paused'))\npurge_dead_guards()\nreturn 1",
            ScriptOutputType.INTEGER,
            new String[] {prefix + "sessions"},
            prefix,
            "other",
            "30000");
    assertThat(redis.redis().zrange(prefix + "orphans", 0, -1)).containsExactly("p1", "p2");

    // A request's script on the paused guard takes the lease again, before or after its renewal.
    var admission = paused.admit("bob", caps, false, false);
    paused.cancel(((Admission.Admitted) admission).reservation());

    // Its renewal learns it was purged: p1, which it is serving, is its own again and busy (no
    // guard reaps or evicts it mid-answer); p2 stays an orphan, for its client to re-adopt.
    await()
        .untilAsserted(
            () -> {
              assertThat(redis.redis().hmget(prefix + "s:p1", "guard", "busy", "client"))
                  .extracting(kv -> kv.getValueOrElse(null))
                  .containsExactly("paused", "1", "alice");
              assertThat(redis.redis().zrange(prefix + "orphans", 0, -1)).containsExactly("p2");
            });
    clock.advance(IDLE.plusSeconds(1));
    List<String> reaped = new ArrayList<>();
    other.expire(IDLE, LIFE, HARD).forEach(e -> reaped.add(e.session().id()));
    paused.expire(IDLE, LIFE, HARD).forEach(e -> reaped.add(e.session().id()));
    assertThat(reaped).containsExactly("p2");
    paused.requestFinished(served, true);
    awaitBusy("p1", "0");
    clock.advance(IDLE.plusSeconds(1));
    assertThat(paused.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("p1");
  }

  @Test
  void a_guard_logs_in_as_the_redis_acl_user_its_policy_names() {
    var caps = new SessionCaps(8, 8, false);
    redis
        .redis()
        .aclSetuser(
            "session-guard",
            AclSetuserArgs.Builder.on().addPassword("s3cret").allKeys().allCommands());
    try {
      try (var user = aclGuard("s3cret")) {
        assertThat(user.storeAvailable()).isTrue();
        open(user, "alice", "u1", caps);
        assertThat(redis.redis().zrange("sessionguard:{test-policy}:sessions", 0, -1))
            .containsExactly("u1");
      }
      var logger = (Logger) LoggerFactory.getLogger(RedisSessionRegistry.class);
      var logged = new ListAppender<ILoggingEvent>();
      logged.start();
      logger.addAppender(logged);
      try (var wrong = aclGuard("not-it")) {
        assertThat(wrong.storeAvailable()).isFalse(); // refused by Redis: not logged in
        // and it says why, though it never reached Redis at all
        assertThat(logged.list)
            .extracting(ILoggingEvent::getFormattedMessage)
            .anyMatch(
                m -> m.startsWith("Redis session store unavailable") && m.contains("WRONGPASS"));
      } finally {
        logger.detachAppender(logged);
      }
    } finally {
      redis.redis().aclDeluser("session-guard");
    }
  }

  @Test
  void a_guard_logs_in_as_an_acl_user_without_a_password() {
    redis
        .redis()
        .aclSetuser("session-guard", AclSetuserArgs.Builder.on().nopass().allKeys().allCommands());
    try (var user = aclGuard(null)) {
      assertThat(user.storeAvailable()).isTrue();
      open(user, "alice", "n1", new SessionCaps(8, 8, false));
      assertThat(redis.redis().zrange("sessionguard:{test-policy}:sessions", 0, -1))
          .containsExactly("n1");
    } finally {
      redis.redis().aclDeluser("session-guard");
    }
  }

  RedisSessionRegistry aclGuard(String password) {
    var store =
        new RedisStore(
            redis.server.url(),
            password,
            Duration.ofSeconds(30),
            FailureMode.Open,
            RedisStore.keyPrefix(RedisFixture.SCOPE),
            RedisStore.DEFAULT_COMMAND_TIMEOUT,
            "session-guard");
    var guard =
        new RedisSessionRegistry(store, "acl-" + (password == null ? "none" : password), clock);
    guard.start();
    return guard;
  }

  @Test
  void the_guards_of_other_policies_are_not_counted() {
    var caps = new SessionCaps(1, 1, false);
    var mine = redis.guard("mine", clock);
    var otherStore =
        new RedisStore(
            redis.server.url(),
            null,
            Duration.ofSeconds(30),
            FailureMode.Open,
            RedisStore.keyPrefix("other-policy"),
            Duration.ofSeconds(1));
    try (var other = new RedisSessionRegistry(otherStore, "other", clock)) {
      other.start();
      open(other, "alice", "o1", caps);
      open(mine, "alice", "m1", caps);
      assertThat(mine.active()).isEqualTo(1);
      assertThat(other.active()).isEqualTo(1);
      Set<String> hashTags = new HashSet<>();
      for (String key : redis.redis().keys("sessionguard:*")) {
        hashTags.add(key.substring(key.indexOf('{'), key.indexOf('}') + 1));
      }
      assertThat(hashTags).containsExactlyInAnyOrder("{test-policy}", "{other-policy}");
    }
  }
}
