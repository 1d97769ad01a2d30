package dev.sessionguard.guard.admission;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.ManualClock;
import dev.sessionguard.guard.admission.redis.RedisStore;
import dev.sessionguard.guard.testing.CuttingRelay;
import dev.sessionguard.policy.SessionPolicySpec.FailureMode;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The semantics of {@link MemorySessionRegistry}, held by one guard on a real Redis. */
class RedisSessionRegistryTest {
  static final SessionCaps CAPS = new SessionCaps(3, 2, false);
  static final Duration IDLE = Duration.ofMinutes(5);
  static final Duration LIFE = Duration.ofHours(1);
  static final Duration HARD = Duration.ofSeconds(20);

  static RedisFixture redis;

  final ManualClock clock = new ManualClock();
  RedisSessionRegistry registry;

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

  @BeforeEach
  void startGuard() {
    registry = redis.guard("guard-a", clock);
    assertThat(registry.storeAvailable()).isTrue();
  }

  @AfterEach
  void reset() {
    redis.reset();
  }

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
    assertThat(registry.pending()).isEqualTo(1);
    assertThat(registry.admit("bob", caps, false, false)).isInstanceOf(Admission.Refused.class);

    registry.cancel(admitted.reservation());
    registry.cancel(admitted.reservation());

    assertThat(registry.pending()).isZero();
    assertThat(registry.clients()).isZero();
    assertThat(redis.countingKeys()).isEmpty();
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
    Session a1 = open("alice", "a1");
    assertThat(registry.lookup("a1")).isEqualTo(new Lookup.Known(a1));
    assertThat(registry.end("a1", EndReason.CLIENT)).containsSame(a1);
    assertThat(registry.end("a1", EndReason.CLIENT)).isEmpty();
    assertThat(registry.lookup("a1")).isInstanceOf(Lookup.Ended.class);
    assertThat(registry.lookup("zz")).isInstanceOf(Lookup.Unknown.class);
    assertThat(registry.clients()).isZero();
    assertThat(registry.active()).isZero();
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_session_is_known_with_its_client_and_creation_time() {
    Session a1 = open("alice", "a1");
    var other = redis.guard("guard-b", clock);
    var known = (Lookup.Known) other.lookup("a1");
    assertThat(known.session().client()).isEqualTo("alice");
    assertThat(known.session().created()).isEqualTo(a1.created()).isEqualTo(clock.instant());
  }

  @Test
  void a_live_session_is_found_without_waiting_and_anything_else_is_left_to_lookup()
      throws Exception {
    Session a1 = open("alice", "a1");
    var other = endB1AndJoin("guard-b");

    // Another guard finds it in Redis, as the same session lookup() would give.
    var found = started(other, "a1", null);
    assertThat(found).hasValueSatisfying(s -> assertThat(s.client()).isEqualTo("alice"));
    assertThat(found.get().created()).isEqualTo(a1.created());
    assertThat(other.lookup("a1")).isEqualTo(new Lookup.Known(found.get()));
    // Ended, unknown: empty, for lookup() to answer.
    assertThat(started(other, "b1", null)).isEmpty();
    assertThat(started(other, "zz", null)).isEmpty();
  }

  @Test
  void an_expiry_that_does_not_remember_leaves_the_id_to_be_adopted() {
    open("alice", "a1");
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD, false))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
    assertThat(registry.active()).isZero();
    assertThat(registry.lookup("a1")).isInstanceOf(Lookup.Unknown.class);
  }

  @Test
  void a_post_started_with_its_lookup_is_started_only_on_its_clients_live_session()
      throws Exception {
    Session a = open("alice", "a1");
    var other = endB1AndJoin("guard-b");

    // Another client's, ended or unknown: nothing recorded (a1 stays guard-a's, and idle).
    assertThat(started(other, "a1", "mallory")).isEmpty();
    assertThat(started(other, "b1", null)).isEmpty();
    assertThat(started(other, "zz", null)).isEmpty();
    clock.advance(IDLE);
    assertThat(other.expire(IDLE, LIFE, HARD)).isEmpty();
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
    assertThat(a.id()).isEqualTo("a1");

    // Its client's: started on guard-b, which owns it from now on; busy until it finishes.
    open("carol", "c1");
    var c = started(other, "c1", "carol");
    assertThat(c).hasValueSatisfying(s -> assertThat(s.client()).isEqualTo("carol"));
    clock.advance(Duration.ofMinutes(30));
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty();
    assertThat(other.expire(IDLE, LIFE, HARD)).isEmpty();
    other.requestFinished(c.get(), true);
    clock.advance(IDLE);
    await()
        .untilAsserted(
            () ->
                assertThat(other.expire(IDLE, LIFE, HARD))
                    .extracting(e -> e.session().id())
                    .containsExactly("c1"));
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_guard_whose_lease_is_gone_takes_it_again_with_its_next_post() throws Exception {
    open("alice", "a1");
    String prefix = RedisStore.keyPrefix(RedisFixture.SCOPE);
    // As if its lease had lapsed and another guard had purged it (the session stays, as a
    // re-adopted one would).
    redis.redis().del(prefix + "lease:guard-a");
    redis.redis().srem(prefix + "guards", "guard-a");

    assertThat(started(registry, "a1", "alice")).isPresent();

    // Leased and listed again, so what it records is purged if it dies; a held lease is extended.
    assertThat(redis.redis().pttl(prefix + "lease:guard-a")).isPositive();
    assertThat(redis.redis().smembers(prefix + "guards")).contains("guard-a");
    redis.redis().pexpire(prefix + "lease:guard-a", 1_000);
    assertThat(started(registry, "a1", "alice")).isPresent();
    assertThat(redis.redis().pttl(prefix + "lease:guard-a")).isGreaterThan(1_000);
  }

  @Test
  void a_start_whose_reply_is_lost_leaves_no_post_in_flight() throws Exception {
    open("alice", "a1");
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Closed);
    redis.server.pause(Duration.ofMillis(2500));

    // The reply times out (1 s): not started here, so the fast path hands the request on.
    assertThat(started(slow, "a1", "alice")).isEmpty();

    // Redis ran the script once it was back (a1 is the slow guard's now, and busy there); the
    // slow guard's next renewal re-syncs its POSTs in flight, none, so a1 idles out again.
    clock.advance(IDLE);
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(
            () ->
                assertThat(slow.expire(IDLE, LIFE, HARD))
                    .extracting(e -> e.session().id())
                    .containsExactly("a1"));
  }

  @Test
  void a_script_whose_reply_was_lost_with_its_connection_is_not_run_again_after_reconnecting()
      throws Exception {
    try (var relay = new CuttingRelay(redis.server.port())) {
      var relayed =
          redis.guard(
              "relayed",
              clock,
              redis.store(
                  "redis://127.0.0.1:" + relay.port(), Duration.ofSeconds(30), FailureMode.Open));
      var one = new SessionCaps(3, 1, false);
      relay.cutReplyTo("carol");

      // Redis ran the admission; its reply went with the connection. Sent again on the new
      // connection, the script would count its own reservation and refuse carol: instead it fails
      // as a lost reply (the store unavailable for a moment: Open admits here).
      var admission = relayed.admit("carol", one, false, false);
      assertThat(admission).isInstanceOf(Admission.Admitted.class);
      relayed.cancel(((Admission.Admitted) admission).reservation());

      // The cancel replayed once the store is back takes Redis's reservation back: nothing left.
      await()
          .atMost(Duration.ofSeconds(20))
          .untilAsserted(
              () -> {
                assertThat(relayed.storeAvailable()).isTrue();
                assertThat(redis.countingKeys()).isEmpty();
              });
    }
  }

  @Test
  void activity_while_the_store_was_unreachable_counts_once_it_is_back() {
    Session a1 = open("alice", "a1");
    clock.advance(IDLE.minusSeconds(10));
    redis.server.pause(Duration.ofMillis(2500));
    assertThat(registry.lookup("other")).isEqualTo(new Lookup.Unknown()); // times out
    assertThat(registry.storeAvailable()).isFalse();

    // a1 is used through this guard meanwhile; Redis hears nothing of it.
    registry.requestStarted(a1, true);
    registry.requestFinished(a1, true);
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(registry.storeAvailable()).isTrue());

    // Idle for IDLE since its creation, but not since its use: kept.
    clock.advance(Duration.ofSeconds(20));
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty();
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
  }

  @Test
  void a_post_on_a_session_ended_since_its_lookup_is_not_started() {
    Session a1 = open("alice", "a1");
    Session b1 = open("bob", "b1");
    registry.end("a1", EndReason.CLIENT); // ended by another request after a1's lookup

    assertThat(registry.requestStarted(a1, true)).isFalse();
    assertThat(registry.requestStarted(b1, true)).isTrue();
    registry.requestFinished(b1, true);
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)) // nothing left busy by the refused start
        .extracting(e -> e.session().id())
        .containsExactly("b1");
  }

  /** Opens bob's b1 and ends it (an ended id), then starts another guard on the same store. */
  private RedisSessionRegistry endB1AndJoin(String guardId) {
    open("bob", "b1");
    registry.end("b1", EndReason.CLIENT);
    return redis.guard(guardId, clock);
  }

  private static Optional<Session> started(RedisSessionRegistry guard, String id, String client)
      throws Exception {
    return guard.startRequest(id, client, true).toCompletableFuture().get(5, TimeUnit.SECONDS);
  }

  @Test
  void a_store_that_cannot_answer_in_time_leaves_the_session_to_lookup() throws Exception {
    open("alice", "a1");
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Closed);
    redis.server.pause(Duration.ofMillis(2500));

    // The fast path's lookup times out like a blocking one (1 s), and completes normally, empty.
    var found = started(slow, "a1", "alice");

    assertThat(found).isEmpty();
    // Whether Redis is down is lookup()'s to decide, and it still has the session once Redis is
    // back.
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.lookup("a1")).isInstanceOf(Lookup.Known.class));
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
        .containsExactly(Tuple.tuple("b1", EndReason.IDLE));
    clock.advance(Duration.ofMinutes(3));
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("a1");
    assertThat(registry.active()).isZero();
    assertThat(redis.countingKeys()).isEmpty();
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
  void a_session_with_a_post_in_flight_is_never_idle() {
    Session a = open("alice", "a1");
    registry.requestStarted(a, true);
    clock.advance(Duration.ofMinutes(30));
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty();
    registry.requestFinished(a, true);
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(1);
    assertThat(redis.countingKeys()).isEmpty();
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
        .containsExactly(Tuple.tuple("a1", EndReason.LIFETIME));
    clock.advance(HARD);
    assertThat(registry.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id(), Ended::reason)
        .containsExactly(Tuple.tuple("b1", EndReason.LIFETIME));
    registry.requestFinished(b, true);
    // The finish is sent without waiting for Redis's reply; this test reads on a connection of
    // its own, which may get there first.
    await().untilAsserted(() -> assertThat(redis.countingKeys()).isEmpty());
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
    registry.requestStarted(a1, true); // a1 becomes the most recent
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
  void top_holders_count_sessions_most_first() {
    open("alice", "a1");
    open("alice", "a2");
    open("bob", "b1");
    registry.admit("carol", new SessionCaps(10, 10, false), false, false);
    assertThat(registry.topHolders(10))
        .containsExactly(
            new SessionRegistry.Holder("alice", 2), new SessionRegistry.Holder("bob", 1));
  }

  @Test
  void three_thousand_sessions_expiring_together_are_all_reaped_in_batches() {
    var caps = new SessionCaps(20_000, 20_000, false);
    for (int i = 0; i < 3_000; i++) {
      open("c" + (i % 50), "s" + i, caps);
    }
    clock.advance(IDLE);
    assertThat(registry.expire(IDLE, LIFE, HARD)).hasSize(3_000);
    assertThat(registry.active()).isZero();
    assertThat(registry.clients()).isZero();
    assertThat(registry.pending()).isZero();
    assertThat(redis.countingKeys()).isEmpty();
  }

  static final String KEYS = RedisStore.keyPrefix(RedisFixture.SCOPE);

  @Test
  void an_admission_that_timed_out_gives_its_reservation_back_when_redis_answers_again() {
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Closed);
    redis.server.pause(Duration.ofMillis(2500));

    // The script times out (1 s) and the guard refuses, as failureMode Closed says; Redis runs
    // the script once the pause ends, and would hold that reservation for nobody.
    assertThat(slow.admit("alice", CAPS, false, false))
        .isEqualTo(new Admission.Refused(Refusal.GLOBAL_SESSIONS));
    assertThat(slow.storeAvailable()).isFalse();

    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());
    assertThat(redis.redis().hlen(KEYS + "reservations")).isZero();
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_session_whose_confirmation_timed_out_keeps_its_slot_until_redis_records_it() {
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Closed);
    var admitted = (Admission.Admitted) slow.admit("alice", CAPS, false, false);
    redis.server.pause(Duration.ofMillis(2500));

    Session s = slow.confirm(admitted.reservation(), "s-late");
    slow.cancel(admitted.reservation()); // what the proxy does after every initialize

    assertThat(slow.storeAvailable()).isFalse();
    assertThat(slow.lookup("s-late")).isEqualTo(new Lookup.Known(s)); // served meanwhile
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());
    assertThat(redis.redis().zrange(KEYS + "sessions", 0, -1)).containsExactly("s-late");
    assertThat(redis.redis().hlen(KEYS + "reservations")).isZero();
    assertThat(slow.active()).isEqualTo(1);
  }

  @Test
  void while_redis_is_unreachable_the_counts_are_the_last_it_gave() {
    open("alice", "a1");
    open("bob", "b1");
    assertThat(registry.active()).isEqualTo(2);
    assertThat(registry.clients()).isEqualTo(2);
    redis.server.pause(Duration.ofMillis(2500));
    assertThat(registry.lookup("elsewhere")).isNotNull(); // finds Redis gone
    assertThat(registry.storeAvailable()).isFalse();
    // its sessions are still served meanwhile: the gauges do not fall to what is held here
    assertThat(registry.active()).isEqualTo(2);
    assertThat(registry.clients()).isEqualTo(2);
  }

  @Test
  void a_session_confirmed_in_an_outage_keeps_its_creation_time_and_identity_once_recorded() {
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Open);
    var admitted = (Admission.Admitted) slow.admit("alice", CAPS, false, false);
    redis.server.pause(Duration.ofMillis(2500));
    // Redis stops answering (another request finds out) before the upstream issues the session:
    // it is confirmed here, its reservation in Redis turned into it once Redis is back
    assertThat(slow.lookup("elsewhere")).isNotNull();
    assertThat(slow.storeAvailable()).isFalse();
    Session s = slow.confirm(admitted.reservation(), "s-out");
    slow.cancel(admitted.reservation());
    assertThat(slow.storeAvailable()).isFalse();
    clock.advance(Duration.ofMinutes(2)); // the outage goes on

    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());
    // its lifetime counts from its creation, not from when Redis came back; and it is the same
    // session, so what was registered on it (a GET stream's closer) is still reached
    assertThat(redis.redis().hget(KEYS + "s:s-out", "created"))
        .isEqualTo(Long.toString(s.created().toEpochMilli()));
    assertThat(slow.lookup("s-out")).isEqualTo(new Lookup.Known(s));
  }

  @Test
  void a_session_held_through_an_outage_that_expires_meanwhile_stays_ended_once_redis_is_back() {
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Closed);
    var admitted = (Admission.Admitted) slow.admit("alice", CAPS, false, false);
    redis.server.pause(Duration.ofMillis(2500));
    slow.confirm(admitted.reservation(), "s-gone"); // times out: held here, its confirm queued
    slow.cancel(admitted.reservation());

    clock.advance(IDLE.plusMinutes(1));
    assertThat(slow.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id())
        .containsExactly("s-gone");
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());

    assertThat(redis.redis().zrange(KEYS + "sessions", 0, -1)).isEmpty();
    assertThat(slow.lookup("s-gone")).isEqualTo(new Lookup.Ended());
    assertThat(slow.active()).isZero();
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_post_started_by_a_confirmation_that_timed_out_is_busy_in_redis_until_it_finishes() {
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Open);
    var admitted = (Admission.Admitted) slow.admit("alice", CAPS, false, false);
    redis.server.pause(Duration.ofMillis(2500));
    // times out (Redis runs it after the pause): held here, busy, its confirm queued
    Session s = slow.confirm(admitted.reservation(), "s-busy", true, true);
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());
    assertThat(redis.redis().hget(KEYS + "s:s-busy", "busy")).isEqualTo("1");
    assertThat(redis.redis().zscore(KEYS + "g:slow:i", "s-busy")).isNull(); // not idle

    slow.requestFinished(s, true);
    await()
        .untilAsserted(
            () -> {
              assertThat(redis.redis().hget(KEYS + "s:s-busy", "busy")).isEqualTo("0");
              assertThat(redis.redis().zscore(KEYS + "g:slow:i", "s-busy")).isNotNull();
            });
  }

  @Test
  void sessions_an_expiry_claimed_whose_reply_was_lost_are_returned_by_the_next_one() {
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Open);
    var admitted = (Admission.Admitted) slow.admit("alice", CAPS, false, false);
    slow.confirm(admitted.reservation(), "s-lost");
    clock.advance(IDLE.plusMinutes(1));

    redis.server.pause(Duration.ofMillis(2500));
    assertThat(slow.expire(IDLE, LIFE, HARD)).isEmpty(); // timed out; Redis runs it after the pause
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());
    assertThat(redis.redis().zrange(KEYS + "sessions", 0, -1)).isEmpty(); // claimed there

    assertThat(slow.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id(), Ended::reason)
        .containsExactly(Tuple.tuple("s-lost", EndReason.IDLE));
    assertThat(slow.expire(IDLE, LIFE, HARD)).isEmpty(); // received: not returned twice
    assertThat(redis.countingKeys()).isEmpty();
  }

  @Test
  void a_session_evicted_by_an_admission_whose_reply_was_lost_is_ended_by_the_next_expiry() {
    var evicting = new SessionCaps(3, 1, true);
    var slow = redis.guard("slow", clock, Duration.ofSeconds(3), FailureMode.Open);
    var first = (Admission.Admitted) slow.admit("alice", evicting, false, false);
    slow.confirm(first.reservation(), "s-evicted");
    clock.advance(Duration.ofSeconds(1));

    redis.server.pause(Duration.ofMillis(2500));
    // Times out; Redis runs it after the pause, evicting s-evicted. Held here meanwhile (Open).
    var second = (Admission.Admitted) slow.admit("alice", evicting, false, false);
    assertThat(second.evicted()).isEmpty();
    slow.cancel(second.reservation());
    await()
        .atMost(Duration.ofSeconds(20))
        .untilAsserted(() -> assertThat(slow.storeAvailable()).isTrue());
    assertThat(redis.redis().zrange(KEYS + "sessions", 0, -1)).isEmpty(); // evicted there

    assertThat(slow.expire(IDLE, LIFE, HARD))
        .extracting(e -> e.session().id(), Ended::reason)
        .containsExactly(Tuple.tuple("s-evicted", EndReason.EVICTED));
    assertThat(slow.expire(IDLE, LIFE, HARD)).isEmpty(); // received: not returned twice
    assertThat(slow.lookup("s-evicted")).isEqualTo(new Lookup.Ended());
    assertThat(redis.countingKeys()).isEmpty();
    assertThat(redis.redis().keys(KEYS + "evict*")).isEmpty();
  }

  @Test
  void a_session_evicted_by_an_admission_whose_reply_was_received_is_ended_once() {
    var evicting = new SessionCaps(3, 1, true);
    open("alice", "a1", evicting);
    clock.advance(Duration.ofSeconds(1));
    var confirmed = (Admission.Admitted) registry.admit("alice", evicting, false, false);
    assertThat(confirmed.evicted()).extracting(Session::id).containsExactly("a1");
    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty(); // still reserved: not the reaper's
    registry.confirm(confirmed.reservation(), "a2");
    clock.advance(Duration.ofSeconds(1));
    var cancelled = (Admission.Admitted) registry.admit("alice", evicting, false, false);
    assertThat(cancelled.evicted()).extracting(Session::id).containsExactly("a2");
    registry.cancel(cancelled.reservation());

    assertThat(registry.expire(IDLE, LIFE, HARD)).isEmpty(); // the admissions ended them
    assertThat(redis.redis().keys(KEYS + "evict*")).isEmpty();
  }
}
