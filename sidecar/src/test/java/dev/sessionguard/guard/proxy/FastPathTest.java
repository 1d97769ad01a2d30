package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.eventsUntilHungUp;
import static dev.sessionguard.guard.ScriptedUpstream.json;
import static dev.sessionguard.guard.ScriptedUpstream.raw;
import static dev.sessionguard.guard.TestGuards.metric;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyJson;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Requests on a session the guard holds take the non-blocking path: the same answers as the
 * blocking one, and every permit back however the exchange ends (the permit goes back as the
 * answer's last write completes, which a client may see a moment before: hence the awaits).
 */
class FastPathTest {
  static final String SESSION = "s-fast-1";
  static final String CALL =
      "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
          + "\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"h\u00e9llo\"}}}";
  static final String INFLIGHT = "sessionguard_inflight_requests";

  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    guard = TestGuards.start(upstream.mcpUrl(), "timeouts: {firstByte: 1s}\n");
    upstream.script(
        (r, s) -> json(s, 200, Map.of("Mcp-Session-Id", SESSION), "{\"jsonrpc\":\"2.0\"}"));
    assertThat(TestGuards.send(TestGuards.initialize(guard, 1)).statusCode()).isEqualTo(200);
  }

  @AfterEach
  void stop() throws Exception {
    guard.close();
    upstream.close();
  }

  String exchange(String request) throws Exception {
    return TestGuards.exchange(guard, request, StandardCharsets.UTF_8);
  }

  static String post(String session, String body, String... extraHeaderLines) {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    return "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
        + "Accept: application/json, text/event-stream\r\nConnection: close\r\n"
        + "Mcp-Session-Id: "
        + session
        + "\r\n"
        + String.join("", extraHeaderLines)
        + "Content-Length: "
        + bytes.length
        + "\r\n\r\n"
        + body;
  }

  static JsonNode bodyOf(String answer) throws Exception {
    return PolicyJson.json().readTree(answer.substring(answer.indexOf("\r\n\r\n") + 4));
  }

  @Test
  void a_call_on_a_held_session_is_relayed_byte_for_byte_with_one_date_and_no_hop_headers()
      throws Exception {
    upstream.script(
        (r, s) ->
            raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                    + "Date: Tue, 01 Jan 2030 00:00:00 GMT\r\nConnection: X-Private\r\n"
                    + "X-Private: secret\r\nX-End-To-End: kept\r\n\r\n{}"));

    String answer =
        exchange(post(SESSION, CALL, "X-HTTP-Method-Override: DELETE\r\n", "X-Mine: 1\r\n"));

    ScriptedUpstream.Request seen = upstream.seen.get(1);
    assertThat(seen.method()).isEqualTo("POST");
    assertThat(seen.body()).isEqualTo(CALL);
    assertThat(seen.headers())
        .containsEntry("mcp-session-id", SESSION)
        .containsEntry("x-mine", "1")
        .containsEntry("x-forwarded-for", "127.0.0.1")
        .doesNotContainKey("x-http-method-override");
    String head = answer.substring(0, answer.indexOf("\r\n\r\n")).toLowerCase();
    assertThat(head).startsWith("http/1.1 200").contains("x-end-to-end: kept");
    assertThat(head).doesNotContain("x-private");
    assertThat(head.split("\r\ndate: ", -1)).hasSize(2);
    assertThat(head).contains("date: tue, 01 jan 2030 00:00:00 gmt");
    assertThat(answer).endsWith("\r\n\r\n{}");
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
    assertThat(metric(guard, "sessionguard_sessions_active")).isEqualTo(1);
  }

  @Test
  void an_upstream_silent_past_the_first_byte_timeout_gets_504_and_the_permit_back()
      throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    upstream.script((r, s) -> release.await(10, TimeUnit.SECONDS));
    try {
      String answer = exchange(post(SESSION, CALL));

      assertThat(answer).startsWith("HTTP/1.1 504");
      assertThat(bodyOf(answer).path("id").asInt()).isEqualTo(7);
      assertThat(bodyOf(answer).path("error").path("code").asInt()).isEqualTo(-31011);
      await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
    } finally {
      release.countDown();
    }
  }

  @Test
  void an_upstream_that_breaks_after_its_headers_before_any_body_byte_gets_502() throws Exception {
    upstream.script(
        (r, s) -> {
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                  + "X-Upstream: yes\r\n\r\n");
          s.close(); // a clean end, so the headers are surely read first: the body never comes
        });

    String answer = exchange(post(SESSION, CALL));

    // nothing of the upstream's answer had left: the guard's own 502, as the decision table says
    assertThat(answer).startsWith("HTTP/1.1 502").doesNotContainIgnoringCase("x-upstream");
    assertThat(bodyOf(answer).path("id").asInt()).isEqualTo(7);
    assertThat(bodyOf(answer).path("error").path("code").asInt()).isEqualTo(-31010);
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void an_upstream_that_breaks_mid_body_cuts_the_answer_and_gives_the_permit_back()
      throws Exception {
    upstream.script(
        (r, s) -> {
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
          raw(s, "{\"partial\":");
          ScriptedUpstream.reset(s);
        });

    String answer = exchange(post(SESSION, CALL));

    // The client sees a cut answer (fewer bytes than declared), never a clean end.
    assertThat(answer).startsWith("HTTP/1.1 200").containsIgnoringCase("content-length: 100");
    assertThat(answer.substring(answer.indexOf("\r\n\r\n") + 4).length()).isLessThan(100);
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void an_sse_answer_sends_its_headers_at_once_and_each_event_as_it_comes() throws Exception {
    CountDownLatch second = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  + "Transfer-Encoding: chunked\r\n\r\n");
          second.await(10, TimeUnit.SECONDS);
          String event = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";
          raw(s, Integer.toHexString(event.length()) + "\r\n" + event + "\r\n0\r\n\r\n");
        });

    try (Socket s = new Socket("127.0.0.1", guard.port())) {
      s.setSoTimeout(10_000);
      OutputStream out = s.getOutputStream();
      out.write(post(SESSION, CALL).getBytes(StandardCharsets.UTF_8));
      out.flush();
      InputStream in = s.getInputStream();
      String head = readUntil(in, "\r\n\r\n"); // before the upstream sent any event
      assertThat(head).startsWith("HTTP/1.1 200").containsIgnoringCase("x-accel-buffering: no");
      assertThat(metric(guard, INFLIGHT)).isEqualTo(1);
      second.countDown();
      assertThat(readUntil(in, "\n\n")).contains("\"id\":7");
    }
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void a_client_that_leaves_mid_stream_ends_the_upstream_exchange_and_frees_its_permit()
      throws Exception {
    CountDownLatch upstreamSawTheEnd = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  + "Transfer-Encoding: chunked\r\n\r\n");
          if (eventsUntilHungUp(s, 1000)) {
            upstreamSawTheEnd.countDown();
          }
        });

    try (Socket s = new Socket("127.0.0.1", guard.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(post(SESSION, CALL).getBytes(StandardCharsets.UTF_8));
      s.getOutputStream().flush();
      assertThat(readUntil(s.getInputStream(), "data: 1\n\n")).contains("data: 0");
    } // the client hangs up

    assertThat(upstreamSawTheEnd.await(10, TimeUnit.SECONDS)).isTrue();
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
    assertThat(metric(guard, "sessionguard_sessions_active")).isEqualTo(1);
  }

  @Test
  void pipelined_requests_on_one_connection_are_answered_in_order_by_either_path()
      throws Exception {
    upstream.script(
        (r, s) ->
            json(
                s,
                200,
                Map.of(),
                "{\"jsonrpc\":\"2.0\",\"id\":"
                    + PolicyJson.json().readTree(r.body()).path("id")
                    + ",\"result\":{}}"));
    String keepAlive = post(SESSION, CALL.replace("\"id\":7", "\"id\":1"));
    keepAlive = keepAlive.replace("Connection: close\r\n", "");
    String broken = post(SESSION, "{not json").replace("Connection: close\r\n", "");
    String last = post(SESSION, CALL.replace("\"id\":7", "\"id\":3"));

    // One write: each answer frees the connection on the upstream's thread, which reads the next.
    String answers = exchange(keepAlive + broken + keepAlive + last);

    assertThat(answers.split("HTTP/1.1 ", -1))
        .extracting(a -> a.isEmpty() ? "" : a.substring(0, 3))
        .containsExactly("", "200", "400", "200", "200");
    assertThat(answers.replaceAll("\\s", ""))
        .containsSubsequence("\"id\":1,", "\"code\":-32700", "\"id\":1,", "\"id\":3,");
    assertThat(upstream.seen).hasSize(4); // initialize and three calls
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void a_reload_that_moves_the_upstream_sends_the_next_call_to_the_new_one() throws Exception {
    upstream.script((r, s) -> json(s, 200, Map.of(), "{\"from\":\"old\"}"));
    assertThat(exchange(post(SESSION, CALL))).endsWith("{\"from\":\"old\"}");
    try (ScriptedUpstream moved = new ScriptedUpstream()) {
      moved.script((r, s) -> json(s, 200, Map.of(), "{\"from\":\"new\"}"));
      PolicyFile file = TestGuards.policy("timeouts: {firstByte: 1s}\n");
      assertThat(guard.reload(file, TestGuards.overrides(moved.mcpUrl()))).isTrue();

      assertThat(exchange(post(SESSION, CALL))).endsWith("{\"from\":\"new\"}");
      assertThat(moved.seen)
          .singleElement()
          .extracting(ScriptedUpstream.Request::body)
          .isEqualTo(CALL);
    }
  }

  @Test
  void requests_it_does_not_take_reach_the_endpoint_with_their_body_whole() throws Exception {
    upstream.script((r, s) -> json(s, 200, Map.of(), "{\"ok\":true}"));

    // An id the guard never saw: adopted by the endpoint, which reads the body read here before.
    String adopted = exchange(post("s-unknown", CALL));
    // Not JSON: refused by the endpoint as a parse error.
    String broken = exchange(post(SESSION, "{not json"));
    // Broken only in the params, which the fast path skips rather than reads: refused the same.
    String brokenParams =
        exchange(
            post(SESSION, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"x\",\"params\":{\"a\":}}"));

    assertThat(adopted).startsWith("HTTP/1.1 200").endsWith("{\"ok\":true}");
    assertThat(upstream.seen.get(1).body()).isEqualTo(CALL);
    assertThat(broken).startsWith("HTTP/1.1 400");
    assertThat(bodyOf(broken).path("error").path("code").asInt()).isEqualTo(-32700);
    assertThat(brokenParams).startsWith("HTTP/1.1 400");
    assertThat(bodyOf(brokenParams).path("error").path("code").asInt()).isEqualTo(-32700);
    assertThat(upstream.seen).hasSize(2);
    assertThat(metric(guard, "sessionguard_sessions_active")).isEqualTo(2);
  }

  @Test
  void an_upstream_404_ends_the_session_on_the_fast_path_too() throws Exception {
    upstream.script((r, s) -> json(s, 404, Map.of(), "{}"));

    assertThat(exchange(post(SESSION, CALL))).startsWith("HTTP/1.1 404");

    assertThat(metric(guard, "sessionguard_sessions_active")).isZero();
  }

  @Test
  void a_per_request_era_call_is_relayed_and_one_whose_headers_disagree_is_refused()
      throws Exception {
    upstream.script((r, s) -> json(s, 200, Map.of(), "{\"ok\":true}"));

    String relayed = exchange(perRequest(CALL, "Mcp-Method: tools/call\r\n", "Mcp-Name: echo\r\n"));
    String refused = exchange(perRequest(CALL, "Mcp-Method: tools/list\r\n"));

    assertThat(relayed).startsWith("HTTP/1.1 200").endsWith("{\"ok\":true}");
    assertThat(upstream.seen.get(1).body()).isEqualTo(CALL);
    assertThat(upstream.seen.get(1).headers()).doesNotContainKey("mcp-session-id");
    assertThat(refused).startsWith("HTTP/1.1 400");
    assertThat(bodyOf(refused).path("error").path("code").asInt()).isEqualTo(-32020);
    assertThat(upstream.seen).hasSize(2);
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
    assertThat(metric(guard, "sessionguard_sessions_active")).isEqualTo(1); // no session counted
  }

  /** A 2026-07-28 POST: no session, the protocol version on every request. */
  static String perRequest(String body, String... extraHeaderLines) {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    return "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
        + "Accept: application/json, text/event-stream\r\nConnection: close\r\n"
        + "MCP-Protocol-Version: 2026-07-28\r\n"
        + String.join("", extraHeaderLines)
        + "Content-Length: "
        + bytes.length
        + "\r\n\r\n"
        + body;
  }

  private static String readUntil(InputStream in, String end) throws Exception {
    StringBuilder seen = new StringBuilder();
    while (seen.indexOf(end) < 0) {
      int b = in.read();
      if (b < 0) {
        break;
      }
      seen.append((char) b);
    }
    return seen.toString();
  }
}
