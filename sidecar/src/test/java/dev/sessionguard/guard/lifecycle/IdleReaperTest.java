package dev.sessionguard.guard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import dev.sessionguard.guard.ManualClock;
import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.Ended;
import dev.sessionguard.guard.admission.Lookup;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.Session;
import dev.sessionguard.guard.admission.SessionCaps;
import dev.sessionguard.guard.proxy.UpstreamClient;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The reaper against a real HTTP upstream that records the DELETEs it receives. */
class IdleReaperTest {
  static final SessionCaps CAPS = new SessionCaps(20_000, 20_000, false);
  static final IdleReaper.Rules RULES =
      new IdleReaper.Rules(Duration.ofMinutes(5), Duration.ofHours(1), Duration.ofSeconds(20));

  final ManualClock clock = new ManualClock();
  final MemorySessionRegistry registry = new MemorySessionRegistry(clock);
  final Queue<String> deleted = new ConcurrentLinkedQueue<>();
  final Queue<String> authorizations = new ConcurrentLinkedQueue<>();
  final AtomicInteger failuresToServe = new AtomicInteger();
  final AtomicInteger failureStatus = new AtomicInteger(503);
  final AtomicBoolean credentialsRequired = new AtomicBoolean();
  final Queue<String> refused = new ConcurrentLinkedQueue<>();
  final AtomicInteger failedDeletes = new AtomicInteger();
  final Queue<EndReason> endedReasons = new ConcurrentLinkedQueue<>();
  ScheduledExecutorService scheduler;
  HttpServer upstream;
  UpstreamClient http;
  SessionEnder ender;
  IdleReaper reaper;

  @BeforeEach
  void start() throws Exception {
    upstream = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    upstream.createContext(
        "/mcp",
        exchange -> {
          if (failuresToServe.getAndDecrement() > 0) {
            exchange.sendResponseHeaders(failureStatus.get(), -1);
          } else if (credentialsRequired.get()
              && exchange.getRequestHeaders().getFirst("Authorization") == null) {
            refused.add(exchange.getRequestHeaders().getFirst("Mcp-Session-Id"));
            exchange.sendResponseHeaders(401, -1);
          } else {
            deleted.add(exchange.getRequestHeaders().getFirst("Mcp-Session-Id"));
            String auth = exchange.getRequestHeaders().getFirst("Authorization");
            if (auth != null) {
              authorizations.add(auth);
            }
            exchange.sendResponseHeaders(200, -1);
          }
          exchange.close();
        });
    upstream.setExecutor(Executors.newFixedThreadPool(4));
    upstream.start();
    scheduler = Executors.newScheduledThreadPool(2);
    URI url = URI.create("http://127.0.0.1:" + upstream.getAddress().getPort() + "/mcp");
    http = new UpstreamClient(Duration.ofSeconds(5));
    http.start();
    ender =
        new SessionEnder(
            http,
            () -> url,
            () -> Duration.ofSeconds(5),
            scheduler,
            3,
            Duration.ofMillis(10),
            16,
            new SessionEnder.Events() {
              @Override
              public void ended(Ended ended) {
                endedReasons.add(ended.reason());
              }

              @Override
              public void deleteFailed(Session session) {
                failedDeletes.incrementAndGet();
              }
            });
    reaper = new IdleReaper(registry, () -> RULES, ender, scheduler);
  }

  @AfterEach
  void stop() throws Exception {
    reaper.close();
    scheduler.shutdownNow();
    http.stop();
    upstream.stop(0);
  }

  Session open(String client, String id) {
    var admitted = (Admission.Admitted) registry.admit(client, CAPS, false, false);
    return registry.confirm(admitted.reservation(), id);
  }

  @Test
  void an_idle_session_is_deleted_upstream_its_stream_closed_and_its_id_remembered() {
    Session s = open("alice", "s-1");
    s.rememberAuthorization("Bearer t");
    AtomicBoolean streamClosed = new AtomicBoolean();
    s.onEnd(() -> streamClosed.set(true));
    clock.advance(Duration.ofMinutes(4));
    assertThat(reaper.reapNow()).isEmpty();

    clock.advance(Duration.ofMinutes(1));
    assertThat(reaper.reapNow()).hasSize(1);

    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(deleted).containsExactly("s-1"));
    assertThat(authorizations).containsExactly("Bearer t");
    assertThat(streamClosed).isTrue();
    assertThat(endedReasons).containsExactly(EndReason.IDLE);
    assertThat(registry.lookup("s-1")).isInstanceOf(Lookup.Ended.class);
    assertThat(registry.active()).isZero();
    assertThat(registry.clients()).isZero();
  }

  @Test
  void once_the_guard_stops_sessions_still_end_here_but_nothing_is_deleted_upstream()
      throws Exception {
    Session s = open("alice", "s-1");
    AtomicBoolean streamClosed = new AtomicBoolean();
    s.onEnd(() -> streamClosed.set(true));
    ender.close();

    boolean acknowledged =
        ender.end(new Ended(s, EndReason.UPSTREAM)).get(10, java.util.concurrent.TimeUnit.SECONDS);

    assertThat(acknowledged).isFalse(); // no DELETE went out, so none was acknowledged
    assertThat(deleted).isEmpty();
    assertThat(streamClosed).isTrue();
    assertThat(failedDeletes).hasValue(0); // not a failure: a stopping guard deletes nothing
  }

  @Test
  void a_failing_delete_is_retried_a_bounded_number_of_times_and_the_slot_is_released_anyway() {
    open("alice", "s-1");
    open("bob", "s-2");
    failuresToServe.set(1);
    clock.advance(Duration.ofMinutes(5));
    reaper.reapNow();
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(deleted).hasSize(2));
    assertThat(failedDeletes).hasValue(0);

    open("carol", "s-3");
    failuresToServe.set(100);
    clock.advance(Duration.ofMinutes(5));
    reaper.reapNow();
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(failedDeletes).hasValue(1));
    assertThat(deleted).doesNotContain("s-3");
    assertThat(registry.active()).isZero();
  }

  @Test
  void a_delete_answered_too_many_requests_or_request_timeout_is_tried_again() {
    for (int status : new int[] {429, 408}) {
      deleted.clear();
      open("alice", "s-" + status);
      failureStatus.set(status);
      failuresToServe.set(2);
      clock.advance(Duration.ofMinutes(5));
      reaper.reapNow();
      await()
          .atMost(Duration.ofSeconds(10))
          .untilAsserted(() -> assertThat(deleted).containsExactly("s-" + status));
    }
    assertThat(failedDeletes).hasValue(0);
  }

  @Test
  void a_delete_refused_for_want_of_credentials_is_counted_as_failed_and_not_retried() {
    credentialsRequired.set(true);
    open("alice", "s-1").rememberAuthorization("Bearer alice");
    open("bob", "s-2"); // e.g. an orphan of a dead guard: nobody here has bob's credentials
    clock.advance(Duration.ofMinutes(5));

    assertThat(reaper.reapNow()).hasSize(2);

    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(failedDeletes).hasValue(1));
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(deleted).containsExactly("s-1"));
    assertThat(refused).containsExactly("s-2"); // once: the same request would be refused again
    assertThat(registry.active()).isZero();
  }

  @Test
  void a_burst_of_ten_thousand_expiring_sessions_is_reaped_completely() {
    for (int i = 0; i < 10_000; i++) {
      open("client-" + (i % 100), "s-" + i);
    }
    clock.advance(Duration.ofMinutes(5));

    List<Ended> ended = reaper.reapNow();

    assertThat(ended).hasSize(10_000);
    assertThat(registry.active()).isZero();
    assertThat(registry.clients()).isZero();
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(deleted).hasSize(10_000));
    assertThat(failedDeletes).hasValue(0);
  }

  @Test
  void the_scheduled_reaper_ends_sessions_without_being_asked() {
    open("alice", "s-1");
    clock.advance(Duration.ofMinutes(6));
    reaper.start(Duration.ofMillis(20));
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(() -> assertThat(deleted).containsExactly("s-1"));
  }
}
