package dev.sessionguard.guard.admission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.ManualClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class MemorySessionRegistryTest {
  static final SessionCaps CAPS = new SessionCaps(3, 2, false);
  static final Duration IDLE = Duration.ofMinutes(5);
  static final Duration LIFE = Duration.ofHours(1);
  static final Duration HARD = Duration.ofSeconds(20);

  final ManualClock clock = new ManualClock();
  final MemorySessionRegistry registry = new MemorySessionRegistry(clock);

  Session open(String client, String id) {
    return open(client, id, CAPS);
  }

  Session open(String client, String id, SessionCaps caps) {
    var admission = registry.admit(client, caps, false, false);
    assertThat(admission).isInstanceOf(Admission.Admitted.class);
    return registry.confirm(((Admission.Admitted) admission).reservation(), id);
  }

  @Test
  void refuses_over_the_global_cap_and_then_the_client_cap() {
    open("alice", "a1");
    open("alice", "a2");
    assertThat(registry.admit("alice", CAPS, false, false))
        .isEqualTo(new Admission.Refused(Refusal.CLIENT_SESSIONS));
    open("bob", "b1");
    assertThat(registry.admit("carol", CAPS, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
    assertThat(registry.active()).isEqualTo(3);
    assertThat(registry.clients()).isEqualTo(2);
  }

  @Test
  void exempt_clients_skip_only_the_per_client_cap() {
    var caps = new SessionCaps(3, 1, false);
    for (int i = 0; i < 3; i++) {
      assertThat(registry.admit("anon", caps, true, false)).isInstanceOf(Admission.Admitted.class);
    }
    assertThat(registry.admit("anon", caps, true, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
  }

  @Test
  void a_reservation_holds_a_slot_until_cancelled_and_cancelling_twice_is_harmless() {
    var caps = new SessionCaps(1, 1, false);
    var admitted = (Admission.Admitted) registry.admit("alice", caps, false, false);
    assertThat(registry.admit("bob", caps, false, false)).isInstanceOf(Admission.Refused.class);

    registry.cancel(admitted.reservation());
    registry.cancel(admitted.reservation());

    assertThat(registry.pending()).isZero();
    assertThat(registry.clients()).isZero();
    assertThat(registry.admit("bob", caps, false, false)).isInstanceOf(Admission.Admitted.class);
  }

  @Test
  void forced_admission_records_and_reports_what_would_be_refused() {
    var caps = new SessionCaps(1, 1, false);
    open("alice", "a1", caps);
    var forced = (Admission.Admitted) registry.admit("alice", caps, false, true);
    assertThat(forced.wouldRefuse()).contains(Refusal.GLOBAL_SESSIONS);
    registry.confirm(forced.reservation(), "a2");
    assertThat(registry.active()).isEqualTo(2);
  }

  @Test
  void ended_sessions_are_remembered_and_clients_disappear_at_zero() {
    open("alice", "a1");
    assertThat(registry.end("a1", EndReason.CLIENT)).isPresent();
    assertThat(registry.end("a1", EndReason.CLIENT)).isEmpty();
    assertThat(registry.lookup("a1")).isInstanceOf(Lookup.Ended.class);
    assertThat(registry.lookup("zz")).isInstanceOf(Lookup.Unknown.class);
    assertThat(registry.clients()).isZero();
    assertThat(registry.active()).isZero();
  }

  @Test
  void tombstones_expire() {
    var tombstones = new MemorySessionRegistry.Tombstones(clock, 10, Duration.ofMinutes(10));
    var r = new MemorySessionRegistry(clock, tombstones);
    var a = (Admission.Admitted) r.admit("alice", CAPS, false, false);
    r.confirm(a.reservation(), "a1");
    r.end("a1", EndReason.IDLE);
    clock.advance(Duration.ofMinutes(11));
    r.expire(IDLE, LIFE, HARD);
    assertThat(r.lookup("a1")).isInstanceOf(Lookup.Unknown.class);
    assertThat(tombstones.size()).isZero();
  }

  @Test
  void tombstones_are_bounded() {
    var tombstones = new MemorySessionRegistry.Tombstones(clock, 2, Duration.ofMinutes(10));
    var r = new MemorySessionRegistry(clock, tombstones);
    for (String id : List.of("s1", "s2", "s3")) {
      var a = (Admission.Admitted) r.admit("c", CAPS, false, false);
      r.confirm(a.reservation(), id);
      r.end(id, EndReason.CLIENT);
    }
    assertThat(tombstones.size()).isEqualTo(2);
    assertThat(r.lookup("s1")).isInstanceOf(Lookup.Unknown.class);
    assertThat(r.lookup("s3")).isInstanceOf(Lookup.Ended.class);
  }

  @Test
  void idle_sessions_expire_after_the_idle_timeout_and_activity_resets_the_clock() {
    Session a = open("alice", "a1");
    open("bob", "b1");
    clock.advance(Duration.ofMinutes(3));
    registry.requestStarted(a, true);
    registry.requestFinished(a, true);
    clock.advance(Duration.ofMinutes(2));

    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id(), Ended::reason)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("b1", EndReason.IDLE));
    clock.advance(Duration.ofMinutes(3));
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
    assertThat(registry.active()).isZero();
  }

  @Test
  void requests_that_do_not_count_as_activity_leave_the_clock_alone() {
    Session a = open("alice", "a1");
    clock.advance(Duration.ofMinutes(4));
    registry.requestStarted(a, false);
    registry.requestFinished(a, false);
    clock.advance(Duration.ofMinutes(1));
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(1);
  }

  @Test
  void a_post_on_a_session_ended_since_its_lookup_is_not_started() {
    Session a = open("alice", "a1");
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(1); // reaped after the lookup

    assertThat(registry.requestStarted(a, true)).isFalse();
    assertThat(registry.active()).isZero();
    assertThat(registry.lookup("a1")).isEqualTo(new Lookup.Ended());
  }

  @Test
  void an_expiry_that_does_not_remember_leaves_the_id_to_be_adopted() {
    open("alice", "a1");
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD, false)).hasSize(1);
    assertThat(registry.active()).isZero();
    assertThat(registry.clients()).isZero();
    assertThat(registry.lookup("a1")).isEqualTo(new Lookup.Unknown());
  }

  @Test
  void a_session_with_a_post_in_flight_is_never_idle() {
    Session a = open("alice", "a1");
    registry.requestStarted(a, true);
    clock.advance(Duration.ofMinutes(30));
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty();
    registry.requestFinished(a, true);
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(1);
  }

  @Test
  void a_post_started_with_its_lookup_is_started_only_on_its_clients_live_session() {
    Session a = open("alice", "a1");
    open("bob", "b1");
    registry.end("b1", EndReason.CLIENT);

    assertThat(started("a1", "mallory")).isEmpty();
    assertThat(started("b1", null)).isEmpty();
    assertThat(started("zz", null)).isEmpty();
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(1); // mallory's try left a1 idle
    Session c = open("carol", "c1");
    assertThat(started("c1", "carol")).containsSame(c);
    assertThat(started("c1", null)).containsSame(c); // sessions not bound to their clients

    clock.advance(Duration.ofMinutes(30));
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty();
    registry.requestFinished(c, true);
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty(); // one of the two POSTs still runs
    registry.requestFinished(c, true);
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).extracting(e -> e.session()).containsExactly(c);
    assertThat(a.id()).isEqualTo("a1");
  }

  private Optional<Session> started(String id, String client) {
    var stage = registry.startRequest(id, client, true).toCompletableFuture();
    assertThat(stage).isDone(); // in memory, at once
    return stage.join();
  }

  @Test
  void lifetime_ends_sessions_once_their_posts_finish_or_at_the_hard_bound() {
    Session a = open("alice", "a1");
    Session b = open("bob", "b1");
    for (int i = 0; i < 12; i++) {
      clock.advance(Duration.ofMinutes(5));
      registry.requestStarted(a, true);
      registry.requestFinished(a, true);
    }
    registry.requestStarted(b, true);
    clock.advance(Duration.ofSeconds(1));
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id(), Ended::reason)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("a1", EndReason.LIFETIME));
    clock.advance(HARD);
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id(), Ended::reason)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("b1", EndReason.LIFETIME));
  }

  @Test
  void evict_idlest_ends_the_clients_own_idlest_session_only() {
    var caps = new SessionCaps(10, 2, true);
    Session a1 = open("alice", "a1", caps);
    clock.advance(Duration.ofSeconds(1));
    open("bob", "b1", caps);
    clock.advance(Duration.ofSeconds(1));
    Session a2 = open("alice", "a2", caps);
    clock.advance(Duration.ofSeconds(1));
    registry.requestStarted(a1, true); // a1 becomes the most recent, and busy
    registry.requestFinished(a1, true);

    var admitted = (Admission.Admitted) registry.admit("alice", caps, false, false);

    assertThat(admitted.evicted()).containsExactly(a2);
    assertThat(registry.lookup("a2")).isInstanceOf(Lookup.Ended.class);
    assertThat(registry.lookup("b1")).isInstanceOf(Lookup.Known.class);
    registry.confirm(admitted.reservation(), "a3");
    assertThat(registry.active()).isEqualTo(3);
  }

  @Test
  void evict_idlest_makes_room_under_a_full_server_only_for_a_client_at_its_own_cap() {
    var caps = new SessionCaps(3, 2, true);
    open("alice", "a1", caps);
    clock.advance(Duration.ofSeconds(1));
    open("alice", "a2", caps);
    open("bob", "b1", caps);

    // bob is under his cap: the server is full, and he may not end alice's sessions
    assertThat(registry.admit("bob", caps, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
    // alice, at her cap, restarted without a DELETE: her idlest session makes room
    var admitted = (Admission.Admitted) registry.admit("alice", caps, false, false);
    assertThat(admitted.evicted()).extracting(Session::id).containsExactly("a1");
    registry.confirm(admitted.reservation(), "a3");
    assertThat(registry.active()).isEqualTo(3);

    // over a cap lowered since, one ended is not room enough
    var lowered = new SessionCaps(2, 2, true);
    assertThat(registry.admit("alice", lowered, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
    // and over her own lowered cap, she is held there until she is under it: evicting one for
    // one would keep her at two for as long as she opens sessions
    var hers = new SessionCaps(10, 1, true);
    assertThat(registry.admit("alice", hers, false, false))
        .isEqualTo(new Admission.Refused(Refusal.CLIENT_SESSIONS));
    assertThat(registry.active()).isEqualTo(3);
  }

  @Test
  void in_dry_run_evict_idlest_evicts_nothing_and_reports_nothing_enforce_would_refuse() {
    var caps = new SessionCaps(10, 1, true);
    open("alice", "a1", caps);
    var admitted = (Admission.Admitted) registry.admit("alice", caps, false, true);
    assertThat(admitted.evicted()).isEmpty();
    assertThat(admitted.wouldRefuse()).isEmpty();
    assertThat(registry.lookup("a1")).isInstanceOf(Lookup.Known.class);
    // recorded: she is over her cap by the eviction DryRun did not make, which is no lowered
    // cap, so her next one is still what Enforce would evict for, not a would-be refusal
    registry.confirm(admitted.reservation(), "a2");
    var again = (Admission.Admitted) registry.admit("alice", caps, false, true);
    assertThat(again.evicted()).isEmpty();
    assertThat(again.wouldRefuse()).isEmpty();
    registry.cancel(again.reservation());
  }

  @Test
  void evict_idlest_refuses_when_every_session_of_the_client_is_busy() {
    var caps = new SessionCaps(10, 1, true);
    Session a1 = open("alice", "a1", caps);
    registry.requestStarted(a1, true);
    assertThat(registry.admit("alice", caps, false, false))
        .isEqualTo(new Admission.Refused(Refusal.CLIENT_SESSIONS));
  }

  @Test
  void a_session_confirmed_with_its_post_started_is_busy_until_that_post_finishes() {
    var caps = new SessionCaps(10, 1, true);
    var a = (Admission.Admitted) registry.admit("alice", caps, false, false);
    Session a1 =
        registry.confirm(a.reservation(), "a1", true, true); // its initialize answer streams
    assertThat(registry.admit("alice", caps, false, false))
        .isEqualTo(new Admission.Refused(Refusal.CLIENT_SESSIONS));
    clock.advance(IDLE.plusMinutes(1));
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty();

    registry.requestFinished(a1, true);
    var b = (Admission.Admitted) registry.admit("alice", caps, false, false);
    assertThat(b.evicted()).extracting(Session::id).containsExactly("a1");
  }

  @Test
  void a_confirmation_joining_a_live_session_counts_its_post_as_activity_only_if_it_is() {
    Session a1 = open("alice", "a1");
    clock.advance(IDLE.minusMinutes(1));
    var a = (Admission.Admitted) registry.admit("alice", CAPS, false, false);
    // an adopting POST that is no activity (activity: ToolCalls, a ping) finds a1 live
    assertThat(registry.confirm(a.reservation(), "a1", true, false)).isEqualTo(a1);
    registry.requestFinished(a1, false);
    clock.advance(Duration.ofMinutes(2));
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
  }

  @Test
  void a_confirmation_finding_another_clients_session_starts_nothing_on_it() {
    var caps = new SessionCaps(10, 1, true);
    Session a1 = open("alice", "a1", caps);
    var b = (Admission.Admitted) registry.admit("bob", caps, false, false);
    assertThat(registry.confirm(b.reservation(), "a1", true, true).client()).isEqualTo("alice");
    // alice's session stayed idle: her next initialize may evict it
    var again = (Admission.Admitted) registry.admit("alice", caps, false, false);
    assertThat(again.evicted()).extracting(Session::id).containsExactly(a1.id());
  }

  @Test
  void a_raced_adoption_of_one_id_keeps_one_session() {
    var a = (Admission.Admitted) registry.admit("alice", CAPS, false, false);
    var b = (Admission.Admitted) registry.admit("alice", CAPS, false, false);
    Session first = registry.confirm(a.reservation(), "s");
    Session second = registry.confirm(b.reservation(), "s");
    assertThat(second).isSameAs(first);
    assertThat(registry.active()).isEqualTo(1);
    assertThat(registry.pending()).isZero();
  }

  @Test
  void ten_thousand_sessions_expiring_together_are_all_reaped() {
    var caps = new SessionCaps(20_000, 20_000, false);
    for (int i = 0; i < 10_000; i++) {
      open("c" + (i % 50), "s" + i, caps);
    }
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(10_000);
    assertThat(registry.active()).isZero();
    assertThat(registry.clients()).isZero();
    assertThat(registry.pending()).isZero();
  }

  @Test
  void tombstones_shared_between_threads_stay_whole() throws Exception {
    // The Redis registry adds and forgets ids on request threads while its local registry
    // expires them on the reaper's: every id added is remembered until forgotten or full.
    var tombstones = new MemorySessionRegistry.Tombstones(clock, 1_000_000, Duration.ofHours(1));
    ExecutorService pool = Executors.newFixedThreadPool(4);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      String prefix = "t" + t + "-";
      futures.add(
          pool.submit(
              () -> {
                start.await();
                for (int i = 0; i < 20_000; i++) {
                  tombstones.add(prefix + i);
                  if (i % 2 == 1) {
                    tombstones.forget(prefix + (i - 1));
                  }
                }
                return null;
              }));
    }
    futures.add(
        pool.submit(
            () -> {
              start.await();
              for (int i = 0; i < 2_000; i++) {
                tombstones.expire();
              }
              return null;
            }));
    start.countDown();
    for (Future<?> f : futures) {
      f.get();
    }
    pool.shutdown();
    assertThat(tombstones.size()).isEqualTo(30_000);
    assertThat(tombstones.contains("t2-19999")).isTrue();
    assertThat(tombstones.contains("t2-19998")).isFalse();
  }

  @Test
  void concurrent_admissions_never_exceed_the_caps_and_release_to_zero() throws Exception {
    var caps = new SessionCaps(100, 10, false);
    int requests = 2_000;
    ExecutorService pool = Executors.newFixedThreadPool(16);
    CountDownLatch start = new CountDownLatch(1);
    AtomicInteger admitted = new AtomicInteger();
    List<Future<?>> futures = new ArrayList<>();
    for (int i = 0; i < requests; i++) {
      String client = "client-" + (i % 50);
      String id = "s-" + i;
      futures.add(
          pool.submit(
              () -> {
                start.await();
                if (registry.admit(client, caps, false, false) instanceof Admission.Admitted a) {
                  admitted.incrementAndGet();
                  registry.confirm(a.reservation(), id);
                  assertThat(registry.active() + registry.pending()).isLessThanOrEqualTo(100);
                }
                return null;
              }));
    }
    start.countDown();
    for (Future<?> f : futures) {
      f.get();
    }
    pool.shutdown();
    assertThat(admitted.get()).isEqualTo(100);
    assertThat(registry.topHolders(100))
        .allSatisfy(h -> assertThat(h.sessions()).isLessThanOrEqualTo(10));
    for (int i = 0; i < requests; i++) {
      registry.end("s-" + i, EndReason.CLIENT);
    }
    assertThat(registry.active()).isZero();
    assertThat(registry.clients()).isZero();
  }
}
