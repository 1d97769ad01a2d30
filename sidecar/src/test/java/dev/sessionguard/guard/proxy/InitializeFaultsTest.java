package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.eventsUntilHungUp;
import static dev.sessionguard.guard.ScriptedUpstream.json;
import static dev.sessionguard.guard.ScriptedUpstream.raw;
import static dev.sessionguard.guard.ScriptedUpstream.reset;
import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyJson;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every way an initialize can fail upstream releases its reservation: no slot stays taken. */
class InitializeFaultsTest {
  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    // A first-byte timeout a stalled machine does not reach on the paths that should succeed.
    guard = TestGuards.start(upstream.mcpUrl(), POLICY + "timeouts: {firstByte: 5s}\n");
  }

  static final String POLICY =
      "identity: {source: Header, header: {name: X-User}}\n"
          + "sessions: {max: 1, perClient: 1}\n"
          + "requests: {maxInFlight: 2, perClientInFlight: 1}\n";

  @AfterEach
  void stop() throws Exception {
    guard.close();
    upstream.close();
  }

  /** The guard sends the upstream a DELETE for {@code session}. */
  void awaitDeletedUpstream(String session) {
    await()
        .untilAsserted(
            () ->
                assertThat(upstream.seen)
                    .anyMatch(
                        q ->
                            q.method().equals("DELETE")
                                && session.equals(q.headers().get("mcp-session-id"))));
  }

  void assertNoSlotTaken() {
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isZero();
              assertThat(guard.sessions().pending()).isZero();
              assertThat(guard.sessions().clients()).isZero();
              assertThat(guard.requests().total()).isZero();
            });
    // and the one slot there is can still be had
    upstream.script(
        (r, s) ->
            json(
                s,
                200,
                r.isInitialize()
                    ? Map.of("Mcp-Session-Id", "fresh-" + System.nanoTime())
                    : Map.of(),
                "{}"));
    assertThat(send(initialize(guard, 99)).statusCode()).isEqualTo(200);
  }

  @Test
  void a_client_that_gives_up_before_a_json_answer_leaves_no_session_behind() throws Exception {
    CountDownLatch answer = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          if (r.isInitialize()) {
            answer.await(30, TimeUnit.SECONDS);
            json(s, 200, Map.of("Mcp-Session-Id", "abandoned"), "{\"jsonrpc\":\"2.0\",\"id\":1}");
          } else {
            json(s, 200, Map.of(), ""); // the guard's DELETE
          }
        });
    String body =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
            + "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
            + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    try (Socket client = new Socket("127.0.0.1", guard.port())) {
      OutputStream out = client.getOutputStream();
      out.write(
          ("POST "
                  + TestGuards.mcp(guard).getPath()
                  + " HTTP/1.1\r\nHost: guard\r\n"
                  + "Content-Type: application/json\r\n"
                  + "Accept: application/json, text/event-stream\r\nX-User: alice\r\n"
                  + "Content-Length: "
                  + body.length()
                  + "\r\n\r\n"
                  + body)
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      await().until(() -> upstream.seen.stream().anyMatch(ScriptedUpstream.Request::isInitialize));
    } // its own timeout: it hangs up before the upstream answers

    answer.countDown();
    // it never saw the id: nobody could use or end the session, so the guard ends it
    awaitDeletedUpstream("abandoned");
    assertNoSlotTaken();
  }

  @Test
  void a_client_that_stops_sending_before_the_answer_gets_no_empty_success() throws Exception {
    CountDownLatch answer = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          if (r.isInitialize()) {
            answer.await(30, TimeUnit.SECONDS);
            json(s, 200, Map.of("Mcp-Session-Id", "half"), "{\"jsonrpc\":\"2.0\",\"id\":1}");
          } else {
            json(s, 200, Map.of(), "");
          }
        });
    String body =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
            + "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
            + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    try (Socket client = new Socket("127.0.0.1", guard.port())) {
      client.setSoTimeout(10_000);
      client
          .getOutputStream()
          .write(
              ("POST "
                      + TestGuards.mcp(guard).getPath()
                      + " HTTP/1.1\r\nHost: guard\r\n"
                      + "Content-Type: application/json\r\nX-User: alice\r\n"
                      + "Accept: application/json, text/event-stream\r\nContent-Length: "
                      + body.length()
                      + "\r\n\r\n"
                      + body)
                  .getBytes(StandardCharsets.US_ASCII));
      await().until(() -> upstream.seen.stream().anyMatch(ScriptedUpstream.Request::isInitialize));
      client.shutdownOutput(); // counts as gone, as for streams
      answer.countDown();
      // the connection closes with nothing answered, not an empty 200 without a session id
      assertThat(client.getInputStream().readAllBytes()).isEmpty();
    }
    awaitDeletedUpstream("half");
    assertNoSlotTaken();
  }

  @Test
  void an_id_issued_again_while_another_clients_session_holds_it_is_not_handed_out()
      throws Exception {
    guard.close();
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity: {source: Header, header: {name: X-User}}\n"
                + "sessions: {max: 5, perClient: 2}\n");
    // an upstream that restarted and numbers its sessions from 1 again
    upstream.script(
        (r, s) -> json(s, 200, r.isInitialize() ? Map.of("Mcp-Session-Id", "1") : Map.of(), "{}"));
    assertThat(send(initialize(guard, 1, "X-User", "alice")).statusCode()).isEqualTo(200);

    HttpResponse<String> bob = send(initialize(guard, 2, "X-User", "bob"));
    assertThat(bob.statusCode()).isEqualTo(502);
    assertThat(bob.headers().firstValue("Mcp-Session-Id")).isEmpty();
    assertThat(PolicyJson.json().readTree(bob.body()).get("id").asInt()).isEqualTo(2);
    // alice's session is hers still, and nothing was deleted on her behalf or his
    assertThat(guard.sessions().active()).isEqualTo(1);
    assertThat(guard.sessions().pending()).isZero();

    // nor on a request relayed without admission (an initialize labelled 2026-07-28)
    HttpResponse<String> labelled =
        send(
            initialize(
                guard,
                3,
                "X-User",
                "bob",
                "MCP-Protocol-Version",
                "2026-07-28",
                "Mcp-Method",
                "initialize"));
    assertThat(labelled.statusCode()).isEqualTo(502);
    assertThat(labelled.headers().firstValue("Mcp-Session-Id")).isEmpty();
    assertThat(guard.sessions().active()).isEqualTo(1);
    assertThat(upstream.seen).noneMatch(q -> q.method().equals("DELETE"));
  }

  @Test
  void an_upstream_500_is_passed_through() {
    upstream.script((r, s) -> json(s, 500, Map.of(), "{\"error\":\"boom\"}"));
    HttpResponse<String> r = send(initialize(guard, 1));
    assertThat(r.statusCode()).isEqualTo(500);
    assertThat(r.body()).isEqualTo("{\"error\":\"boom\"}");
    assertNoSlotTaken();
  }

  @Test
  void a_reset_before_the_answer_gets_502() throws Exception {
    upstream.script((r, s) -> reset(s));
    HttpResponse<String> r = send(initialize(guard, "a"));
    assertThat(r.statusCode()).isEqualTo(502);
    assertThat(PolicyJson.json().readTree(r.body()).get("id").asText()).isEqualTo("a");
    assertNoSlotTaken();
  }

  @Test
  void an_answer_broken_after_its_headers_before_its_body_gets_502_and_its_session_deleted()
      throws Exception {
    upstream.script(
        (r, s) -> {
          if (r.method().equals("DELETE")) {
            json(s, 200, Map.of(), "");
            return;
          }
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: cut\r\n"
                  + "Content-Length: 50\r\n\r\n");
          s.close(); // a clean end, so the headers are surely read first
        });
    HttpResponse<String> r = send(initialize(guard, "a"));
    // nothing of the answer had left: the guard's own 502, as on the fast path
    assertThat(r.statusCode()).isEqualTo(502);
    assertThat(r.headers().firstValue("Mcp-Session-Id")).isEmpty();
    assertThat(PolicyJson.json().readTree(r.body()).get("id").asText()).isEqualTo("a");
    awaitDeletedUpstream("cut");
    assertNoSlotTaken();
  }

  @Test
  void a_reset_mid_answer_ends_the_session_and_deletes_it_upstream() {
    upstream.script(
        (r, s) -> {
          if (r.method().equals("DELETE")) {
            json(s, 200, Map.of(), "");
            return;
          }
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: half\r\n"
                  + "Transfer-Encoding: chunked\r\n\r\n10\r\nevent: message\n");
          reset(s);
        });
    try {
      send(initialize(guard, 1)); // the client sees a truncated answer, or an error
    } catch (IllegalStateException expected) {
      // truncated
    }
    awaitDeletedUpstream("half");
    assertNoSlotTaken();
  }

  @Test
  void an_upstream_slower_than_the_first_byte_timeout_gets_504() {
    guard.close();
    guard = TestGuards.start(upstream.mcpUrl(), POLICY + "timeouts: {firstByte: 500ms}\n");
    CountDownLatch never = new CountDownLatch(1);
    upstream.script((r, s) -> never.await(30, TimeUnit.SECONDS));
    HttpResponse<String> r = send(initialize(guard, 1));
    assertThat(r.statusCode()).isEqualTo(504);
    never.countDown();
    assertNoSlotTaken();
  }

  @Test
  void a_2xx_without_a_session_id_is_forwarded_and_records_nothing() {
    upstream.script(
        (r, s) -> json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"));
    HttpResponse<String> r = send(initialize(guard, 1));
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("Mcp-Session-Id")).isEmpty();
    assertNoSlotTaken();
  }

  @Test
  void a_session_id_outside_visible_ascii_gets_502() {
    upstream.script((r, s) -> json(s, 200, Map.of("Mcp-Session-Id", "bad\u00e9id"), "{}"));
    HttpResponse<String> r = send(initialize(guard, 1));
    assertThat(r.statusCode()).isEqualTo(502);
    assertNoSlotTaken();
  }

  /**
   * On a request the guard relays without admission (here an initialize labelled 2026-07-28), an id
   * outside visible ASCII is answered 502 before any admission: not refused at the cap, and no
   * DELETE sent with it.
   */
  @Test
  void a_session_id_outside_visible_ascii_issued_on_a_relayed_request_gets_502_first() {
    upstream.script(
        (r, s) -> {
          boolean labelled = "2026-07-28".equals(r.headers().get("mcp-protocol-version"));
          json(s, 200, Map.of("Mcp-Session-Id", labelled ? "bad\u00e9id" : "s-1"), "{}");
        });
    assertThat(send(initialize(guard, 1)).statusCode()).isEqualTo(200); // the cap is now full

    HttpResponse<String> r =
        send(
            initialize(guard, 2, "MCP-Protocol-Version", "2026-07-28", "Mcp-Method", "initialize"));

    assertThat(r.statusCode()).isEqualTo(502);
    assertThat(guard.sessions().active()).isEqualTo(1);
    await().untilAsserted(() -> assertThat(guard.requests().total()).isZero());
    assertThat(upstream.seen).noneMatch(q -> q.method().equals("DELETE"));
  }

  @Test
  void a_client_gone_after_the_id_was_issued_gets_its_session_deleted_upstream() throws Exception {
    CountDownLatch received = new CountDownLatch(1);
    CountDownLatch clientGone = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          if (r.method().equals("DELETE")) {
            json(s, 200, Map.of(), "");
            return;
          }
          received.countDown();
          clientGone.await(10, TimeUnit.SECONDS);
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: orphan\r\n"
                  + "Transfer-Encoding: chunked\r\n\r\n");
          eventsUntilHungUp(s, 500); // until the guard hangs up on us
        });
    String body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}";
    try (Socket client = new Socket("127.0.0.1", guard.port())) {
      client.setSoTimeout(10_000);
      OutputStream out = client.getOutputStream();
      out.write(
          ("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                  + body.length()
                  + "\r\n\r\n"
                  + body)
              .getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      assertThat(received.await(10, TimeUnit.SECONDS)).isTrue();
    }
    clientGone.countDown();

    awaitDeletedUpstream("orphan");
    assertNoSlotTaken();
  }

  @Test
  void an_initialize_answer_cut_by_the_guard_stopping_leaves_its_session_alone() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: cut-1\r\n"
                  + "Content-Length: 100\r\n\r\n{\"partial\":");
          release.await(10, TimeUnit.SECONDS); // the rest never comes before the guard stops
        });
    try {
      CompletableFuture<HttpResponse<String>> answer =
          TestGuards.HTTP.sendAsync(initialize(guard, 1), BodyHandlers.ofString());
      await().untilAsserted(() -> assertThat(guard.sessions().active()).isEqualTo(1));

      guard.close(); // cuts the answer mid-body

      await().until(answer::isDone);
      // Like every other session of a stopping guard: not ended, not deleted upstream (with
      // Redis it stays for the guards that remain).
      await()
          .during(Duration.ofMillis(500))
          .atMost(Duration.ofSeconds(5))
          .untilAsserted(
              () -> {
                assertThat(guard.sessions().active()).isEqualTo(1);
                assertThat(
                        TestGuards.metric(
                            guard, "sessionguard_sessions_ended_total{reason=\"upstream\"}"))
                    .isZero();
              });
      assertThat(upstream.seen).noneMatch(r -> r.method().equals("DELETE"));
    } finally {
      release.countDown();
    }
  }

  @Test
  void in_flight_caps_refuse_with_429_and_503_and_release_when_the_answer_ends() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          release.await(10, TimeUnit.SECONDS);
          json(s, 200, Map.of(), "{}");
        });
    String ping = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}";
    CompletableFuture<HttpResponse<String>> alice =
        TestGuards.HTTP.sendAsync(post(ping, "X-User", "alice"), BodyHandlers.ofString());
    await().untilAsserted(() -> assertThat(guard.requests().total()).isEqualTo(1));

    HttpResponse<String> aliceAgain = send(post(ping, "X-User", "alice"));
    assertThat(aliceAgain.statusCode()).isEqualTo(429);
    assertThat(aliceAgain.headers().firstValue("Retry-After")).isPresent();
    assertThat(PolicyJson.json().readTree(aliceAgain.body()).at("/error/data/reason").asText())
        .isEqualTo("client_inflight");
    assertThat(PolicyJson.json().readTree(aliceAgain.body()).get("id").asInt()).isEqualTo(7);

    CompletableFuture<HttpResponse<String>> bob =
        TestGuards.HTTP.sendAsync(post(ping, "X-User", "bob"), BodyHandlers.ofString());
    await().untilAsserted(() -> assertThat(guard.requests().total()).isEqualTo(2));
    HttpResponse<String> carol = send(post(ping, "X-User", "carol"));
    assertThat(carol.statusCode()).isEqualTo(503);
    assertThat(PolicyJson.json().readTree(carol.body()).at("/error/data/reason").asText())
        .isEqualTo("global_inflight");

    release.countDown();
    assertThat(alice.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    assertThat(bob.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    await().untilAsserted(() -> assertThat(guard.requests().total()).isZero());
    assertThat(guard.requests().clients()).isZero();
  }

  java.net.http.HttpRequest post(String body, String... headers) {
    var b =
        java.net.http.HttpRequest.newBuilder(TestGuards.mcp(guard))
            .header("Content-Type", "application/json")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b.build();
  }
}
