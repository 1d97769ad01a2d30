package dev.sessionguard.guard.lifecycle;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ManualClock;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Idle reaping, lifetime and eviction through a running guard, with a clock moved by hand. */
class GuardReapingTest {
  final ManualClock clock = new ManualClock();
  final AtomicInteger issued = new AtomicInteger();
  final CountDownLatch slowRelease = new CountDownLatch(1);
  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void upstream() throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) -> {
          if (r.isInitialize() && r.body().contains("\"slow\"")) {
            // its answer streams: headers (with the session) now, the result when released
            ScriptedUpstream.raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + "Mcp-Session-Id: s-streaming\r\nTransfer-Encoding: chunked\r\n\r\n");
            slowRelease.await(30, TimeUnit.SECONDS);
            String event = "data: {\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"result\":{}}\n\n";
            ScriptedUpstream.raw(
                s, Integer.toHexString(event.length()) + "\r\n" + event + "\r\n0\r\n\r\n");
          } else if (r.isInitialize()) {
            ScriptedUpstream.issueSession(s, issued);
          } else if (r.method().equals("GET")) {
            // A standalone stream: headers, then silence until someone hangs up.
            ScriptedUpstream.raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            while (s.getInputStream().read() != -1) {
              // wait for the guard to close it
            }
            s.close();
          } else {
            if (r.body().contains("\"slow\"")) {
              slowRelease.await(30, TimeUnit.SECONDS);
            }
            ScriptedUpstream.json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
          }
        });
  }

  @AfterEach
  void stop() throws Exception {
    slowRelease.countDown();
    if (guard != null) {
      guard.close();
    }
    upstream.close();
  }

  Guard guard(String yaml) {
    guard = TestGuards.start(upstream.mcpUrl(), yaml, clock);
    return guard;
  }

  String open(String... headers) {
    HttpResponse<String> r = send(initialize(guard, 1, headers));
    assertThat(r.statusCode()).isEqualTo(200);
    return r.headers().firstValue("Mcp-Session-Id").orElseThrow();
  }

  HttpRequest call(String session, String method, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(mcp(guard))
            .header("Content-Type", "application/json")
            .header("Mcp-Session-Id", session)
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\""
                        + method
                        + "\",\"params\":{\"name\":\""
                        + (method.equals("tools/call") ? "slow" : "quick")
                        + "\"}}"));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b.build();
  }

  /** Opens the session's standalone GET stream. */
  CompletableFuture<HttpResponse<String>> standaloneStream(String session) {
    return TestGuards.HTTP.sendAsync(
        HttpRequest.newBuilder(mcp(guard))
            .header("Accept", "text/event-stream")
            .header("Mcp-Session-Id", session)
            .GET()
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** A reaper pass, and the DELETEs it sends: the scheduled pass may have run it already. */
  void reap() {
    guard.reaper().reapNow();
  }

  long deletesOf(String session) {
    return upstream.seen.stream()
        .filter(
            r -> r.method().equals("DELETE") && session.equals(r.headers().get("mcp-session-id")))
        .count();
  }

  void awaitDeleted(String session) {
    await().atMost(Duration.ofSeconds(10)).until(() -> deletesOf(session) == 1);
  }

  @Test
  void any_request_resets_the_idle_clock_and_an_idle_session_is_deleted_upstream_then_404()
      throws Exception {
    guard("sessions: {idleTimeout: 5m}\n");
    String s = open("Authorization", "Bearer secret");
    clock.advance(Duration.ofMinutes(4));
    assertThat(send(call(s, "tools/list")).statusCode()).isEqualTo(200);
    await().until(() -> guard.requests().total() == 0); // its end is activity too
    clock.advance(Duration.ofMinutes(4));
    reap();
    assertThat(guard.sessions().active()).isEqualTo(1);

    clock.advance(Duration.ofMinutes(1));
    reap();

    awaitDeleted(s);
    ScriptedUpstream.Request delete =
        upstream.seen.stream().filter(r -> r.method().equals("DELETE")).findFirst().orElseThrow();
    assertThat(delete.headers()).containsEntry("authorization", "Bearer secret");
    assertThat(guard.sessions().active()).isZero();
    assertThat(guard.sessions().clients()).isZero();
    int seen = upstream.seen.size();
    assertThat(send(call(s, "tools/list")).statusCode()).isEqualTo(404);
    assertThat(upstream.seen).hasSize(seen);
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"idle\"}")).isEqualTo(1);
  }

  /**
   * A session a session-era upstream made of a 2026-07-28-labelled initialize, used with that
   * label: it is counted, so it is also kept while used, and its DELETE ends it.
   */
  @Test
  void a_session_used_with_the_per_request_label_is_kept_while_used_and_ended_by_its_delete() {
    guard("sessions: {idleTimeout: 5m}\n");
    String s = open("MCP-Protocol-Version", "2026-07-28", "Mcp-Method", "initialize");
    assertThat(guard.sessions().active()).isEqualTo(1);
    clock.advance(Duration.ofMinutes(4));
    assertThat(
            send(call(
                    s,
                    "tools/list",
                    "MCP-Protocol-Version",
                    "2026-07-28",
                    "Mcp-Method",
                    "tools/list"))
                .statusCode())
        .isEqualTo(200);
    await().until(() -> guard.requests().total() == 0);
    clock.advance(Duration.ofMinutes(4));
    reap();
    assertThat(deletesOf(s)).isZero(); // in use four minutes ago: not idle
    assertThat(guard.sessions().active()).isEqualTo(1);

    HttpRequest delete =
        HttpRequest.newBuilder(mcp(guard))
            .header("Mcp-Session-Id", s)
            .header("MCP-Protocol-Version", "2026-07-28")
            .DELETE()
            .build();
    assertThat(send(delete).statusCode()).isEqualTo(200);
    assertThat(guard.sessions().active()).isZero();
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"client\"}")).isEqualTo(1);
  }

  @Test
  void with_tool_calls_activity_only_tools_call_resets_the_idle_clock() {
    guard("sessions: {idleTimeout: 5m, activity: ToolCalls}\n");
    String listed = open();
    String called = open();
    clock.advance(Duration.ofMinutes(4));
    assertThat(send(call(listed, "tools/list")).statusCode()).isEqualTo(200);
    slowRelease.countDown();
    assertThat(send(call(called, "tools/call")).statusCode()).isEqualTo(200);
    await().until(() -> guard.requests().total() == 0);
    clock.advance(Duration.ofMinutes(1));
    reap();

    awaitDeleted(listed);
    assertThat(deletesOf(called)).isZero();
    assertThat(guard.sessions().lookup(called))
        .isInstanceOf(dev.sessionguard.guard.admission.Lookup.Known.class);
  }

  @Test
  void a_post_in_flight_keeps_its_session_and_the_idle_clock_starts_when_it_ends() {
    guard("sessions: {idleTimeout: 5m}\n");
    String s = open();
    CompletableFuture<HttpResponse<String>> slow =
        TestGuards.HTTP.sendAsync(call(s, "tools/call"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("tools/call")));
    clock.advance(Duration.ofMinutes(30));
    reap();
    assertThat(guard.sessions().active()).isEqualTo(1);

    slowRelease.countDown();
    assertThat(slow.join().statusCode()).isEqualTo(200);
    await().until(() -> guard.requests().total() == 0); // the guard has seen the exchange end
    clock.advance(Duration.ofMinutes(4));
    reap();
    assertThat(guard.sessions().active()).isEqualTo(1);
    clock.advance(Duration.ofMinutes(1));
    reap();
    awaitDeleted(s);
  }

  @Test
  void an_open_get_stream_does_not_keep_a_session_and_reaping_closes_it() {
    guard("sessions: {idleTimeout: 5m}\n");
    String s = open();
    CompletableFuture<HttpResponse<String>> stream = standaloneStream(s);
    await().until(() -> guard.streams().total() == 1);
    clock.advance(Duration.ofMinutes(5));
    reap();

    awaitDeleted(s);
    await().atMost(Duration.ofSeconds(10)).until(stream::isDone);
    await().atMost(Duration.ofSeconds(10)).until(() -> guard.streams().total() == 0);
    assertThat(guard.sessions().active()).isZero();
  }

  @Test
  void dry_run_forgets_an_expired_session_and_its_client_goes_on_using_it() {
    guard("mode: DryRun\nsessions: {idleTimeout: 5m}\n");
    String s = open();
    CompletableFuture<HttpResponse<String>> stream = standaloneStream(s);
    await().until(() -> guard.streams().total() == 1);
    clock.advance(Duration.ofMinutes(5));

    reap(); // (or the scheduled pass did)
    // out of the counts, as Enforce would have it, and nothing else
    assertThat(guard.sessions().active()).isZero();
    assertThat(metric(guard, "sessionguard_dryrun_ends_total{reason=\"idle\"}")).isEqualTo(1);
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"idle\"}")).isZero();
    assertThat(stream).isNotDone();
    assertThat(guard.streams().total()).isEqualTo(1);

    // not remembered: the client's next request adopts it again
    assertThat(send(call(s, "tools/list")).statusCode()).isEqualTo(200);
    assertThat(guard.sessions().active()).isEqualTo(1);
    assertThat(deletesOf(s)).isZero();
    assertThat(stream).isNotDone();
  }

  @Test
  void lifetime_ends_a_busy_session_when_its_post_finishes_or_at_the_hard_bound() {
    guard("sessions: {idleTimeout: 5m, maxLifetime: 1h}\ntimeouts: {drain: 20s}\n");
    String s = open();
    CompletableFuture<HttpResponse<String>> slow =
        TestGuards.HTTP.sendAsync(call(s, "tools/call"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("tools/call")));
    clock.advance(Duration.ofMinutes(60));
    reap();
    assertThat(guard.sessions().active()).isEqualTo(1); // busy: it may finish its POST
    clock.advance(Duration.ofSeconds(20));
    reap();

    awaitDeleted(s);
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"lifetime\"}"))
        .isEqualTo(1);
    slowRelease.countDown();
    slow.join();
  }

  @Test
  void evict_idlest_ends_the_clients_own_idlest_session_and_never_another_clients() {
    guard(
        "identity: {source: Header, header: {name: X-User}}\n"
            + "sessions: {max: 10, perClient: 2, onClientCap: EvictIdlest}\n");
    String bobs = open("X-User", "bob");
    clock.advance(Duration.ofSeconds(1));
    String first = open("X-User", "alice");
    clock.advance(Duration.ofSeconds(1));
    String second = open("X-User", "alice");
    clock.advance(Duration.ofSeconds(1));
    assertThat(send(call(first, "ping", "X-User", "alice")).statusCode()).isEqualTo(200);

    String third = open("X-User", "alice"); // at her cap: her idlest (second) makes room

    awaitDeleted(second);
    assertThat(deletesOf(first)).isZero();
    assertThat(deletesOf(bobs)).isZero();
    assertThat(send(call(second, "ping", "X-User", "alice")).statusCode()).isEqualTo(404);
    assertThat(send(call(third, "ping", "X-User", "alice")).statusCode()).isEqualTo(200);
    assertThat(guard.sessions().active()).isEqualTo(3);
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"evicted\"}")).isEqualTo(1);
  }

  @Test
  void a_session_whose_initialize_answer_still_streams_is_neither_evicted_nor_reaped() {
    guard(
        "identity: {source: Header, header: {name: X-User}}\n"
            + "sessions: {max: 10, perClient: 1, onClientCap: EvictIdlest, idleTimeout: 1m}\n");
    CompletableFuture<HttpResponse<String>> first =
        TestGuards.HTTP.sendAsync(
            initialize(guard, "slow", "X-User", "alice"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> guard.sessions().active() == 1);

    // Her second initialize while the first's answer streams: her only session is busy with
    // it, so nothing can make room, and the idle clock does not run for it either.
    assertThat(send(initialize(guard, 2, "X-User", "alice")).statusCode()).isEqualTo(429);
    clock.advance(Duration.ofMinutes(2));
    reap();
    assertThat(guard.sessions().active()).isEqualTo(1); // still held: its DELETE would be late
    assertThat(first).isNotDone();
    assertThat(deletesOf("s-streaming")).isZero();

    slowRelease.countDown();
    assertThat(first)
        .succeedsWithin(Duration.ofSeconds(10))
        .satisfies(
            r -> {
              assertThat(r.statusCode()).isEqualTo(200);
              assertThat(r.body()).contains("\"result\"");
            });
    // answered: idle from now on, so the next initialize makes room with it
    assertThat(send(initialize(guard, 3, "X-User", "alice")).statusCode()).isEqualTo(200);
    awaitDeleted("s-streaming");
    assertThat(guard.sessions().active()).isEqualTo(1);
  }

  @Test
  void an_adoption_at_the_clients_cap_is_refused_and_evicts_nothing() {
    guard(
        "identity: {source: Header, header: {name: X-User}}\n"
            + "sessions: {max: 10, perClient: 2, onClientCap: EvictIdlest}\n");
    String first = open("X-User", "alice");
    clock.advance(Duration.ofSeconds(1));
    String second = open("X-User", "alice");

    // An id the guard does not know (say, from before a restart): adoption is admission, and
    // eviction is for initialize only; a stale id must not cost alice a working session.
    assertThat(send(call("from-before", "ping", "X-User", "alice")).statusCode()).isEqualTo(404);

    assertThat(send(call(first, "ping", "X-User", "alice")).statusCode()).isEqualTo(200);
    assertThat(send(call(second, "ping", "X-User", "alice")).statusCode()).isEqualTo(200);
    assertThat(guard.sessions().active()).isEqualTo(2);
  }
}
