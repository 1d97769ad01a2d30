package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.json;
import static dev.sessionguard.guard.ScriptedUpstream.raw;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.proxy.RawClient.call;
import static dev.sessionguard.guard.proxy.RawClient.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * One kept-alive client connection goes back and forth between the guard's own HTTP/1.1 handling
 * and Jetty's without losing or reordering a byte: whatever the request, the answers are the ones
 * the guard gives on a fresh connection.
 */
class FrontConnectionTest {
  static final String SESSION = "s-front-1";
  static final String INFLIGHT = "sessionguard_inflight_requests";

  ScriptedUpstream upstream;
  Guard guard;
  RawClient client;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    guard = TestGuards.start(upstream.mcpUrl(), "timeouts: {firstByte: 2s}\n");
    upstream.script(
        (r, s) ->
            json(
                s,
                200,
                r.isInitialize() ? Map.of("Mcp-Session-Id", SESSION) : Map.of(),
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"echo\":" + quote(r.body()) + "}}"));
    client = new RawClient(guard.port());
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    guard.close();
    upstream.close();
  }

  static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  void initialize() throws IOException {
    client.send(post(null, RawClient.initialize(0)));
    RawClient.Answer answer = client.read();
    assertThat(answer.status()).isEqualTo(200);
    assertThat(answer.headers()).containsEntry("mcp-session-id", SESSION);
  }

  @Test
  void one_connection_carries_initialize_calls_other_paths_and_refusals_in_turn() throws Exception {
    initialize(); // served by Jetty's handling: it creates a session

    client.send(post(SESSION, call(1, "a")));
    RawClient.Answer first = client.read();
    client.send("GET /elsewhere HTTP/1.1\r\nHost: guard\r\n\r\n");
    RawClient.Answer other = client.read();
    client.send(post(SESSION, "{not json"));
    RawClient.Answer refused = client.read();
    client.send(post(SESSION, call(3, "c")));
    RawClient.Answer third = client.read();

    assertThat(first.status()).isEqualTo(200);
    assertThat(first.body()).contains("tools/call");
    assertThat(first.headers()).containsKey("date").doesNotContainKey("connection");
    assertThat(other.status()).isEqualTo(200); // other paths are relayed as they are
    assertThat(upstream.seen).extracting(ScriptedUpstream.Request::path).contains("/elsewhere");
    assertThat(refused.status()).isEqualTo(400);
    assertThat(refused.body()).contains("-32700");
    assertThat(third.status()).isEqualTo(200);
    assertThat(upstream.seen).extracting(ScriptedUpstream.Request::body).contains(call(3, "c"));
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void repeated_heads_reach_the_upstream_with_each_requests_own_length_and_headers()
      throws Exception {
    initialize();
    String[] texts = {"a", "a", "bb", "a much longer text than the others", "c", "c"};
    String[] traces = {"t-1", "t-1", "t-1", "t-1", "t-2", "t-1"};

    for (int i = 0; i < texts.length; i++) {
      client.send(post(SESSION, call(i, texts[i]), "X-Trace: " + traces[i] + "\r\n"));
      assertThat(client.read().body()).contains(texts[i]);
    }

    List<ScriptedUpstream.Request> calls =
        upstream.seen.stream().filter(r -> r.body().contains("tools/call")).toList();
    assertThat(calls).hasSize(texts.length);
    for (int i = 0; i < texts.length; i++) {
      ScriptedUpstream.Request r = calls.get(i);
      assertThat(r.body()).isEqualTo(call(i, texts[i]));
      assertThat(r.headers())
          .containsEntry("content-length", String.valueOf(r.body().length()))
          .containsEntry("x-trace", traces[i])
          .containsEntry("mcp-session-id", SESSION)
          .containsKey("x-forwarded-for");
    }
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  /**
   * A client that sends each request as soon as it has read the answer before, its head and body in
   * two writes, on many connections in turn: the next request's bytes may arrive while the answer
   * before it is being completed on another thread. Every request is answered, in full, and nothing
   * of one connection's bytes turns up on another's.
   */
  @Test
  void requests_sent_right_after_each_answer_on_many_connections_are_all_answered()
      throws Exception {
    initialize();
    List<RawClient> held = new ArrayList<>(); // held open, as a pool of clients
    try {
      for (int c = 0; c < 300; c++) {
        RawClient next = new RawClient(guard.port());
        held.add(next);
        for (int k = 0; k < 3; k++) {
          String text = "c" + c + "-" + k;
          String request = post(SESSION, call(k, text));
          int split = request.indexOf("\r\n\r\n") + 4;
          next.send(request.substring(0, split));
          next.send(request.substring(split));
          RawClient.Answer answer = next.read();
          assertThat(answer.status()).as("connection %d, request %d", c, k).isEqualTo(200);
          assertThat(answer.body()).contains(text);
        }
      }
    } finally {
      for (RawClient s : held) {
        s.close();
      }
    }
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void requests_sent_ahead_are_answered_in_order_whichever_way_each_goes() throws Exception {
    initialize();

    client.send(
        post(SESSION, call(1, "one")),
        post(SESSION, call(2, "two")),
        "DELETE /elsewhere HTTP/1.1\r\nHost: guard\r\n\r\n",
        post(SESSION, call(3, "three")));

    assertThat(client.read().body()).contains("one");
    assertThat(client.read().body()).contains("two");
    assertThat(client.read().status()).isEqualTo(200);
    assertThat(client.read().body()).contains("three");
    assertThat(upstream.seen)
        .extracting(ScriptedUpstream.Request::method)
        .containsSubsequence("POST", "POST", "DELETE", "POST");
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void a_body_larger_than_the_connection_buffer_and_a_chunked_one_are_served_by_jetty()
      throws Exception {
    initialize();
    String big = "x".repeat(20_000);
    String chunkedBody = call(5, "chunked");

    client.send(post(SESSION, call(4, big)));
    RawClient.Answer large = client.read();
    client.send(RawClient.chunkedPost(SESSION, chunkedBody));
    RawClient.Answer chunked = client.read();
    client.send(post(SESSION, call(6, "after")));
    RawClient.Answer after = client.read();

    assertThat(large.status()).isEqualTo(200);
    assertThat(upstream.seen).extracting(ScriptedUpstream.Request::body).contains(call(4, big));
    assertThat(chunked.status()).isEqualTo(200);
    assertThat(upstream.seen).extracting(ScriptedUpstream.Request::body).contains(chunkedBody);
    assertThat(after.body()).contains("after");
  }

  @Test
  void answers_on_either_side_of_the_one_write_size_arrive_whole_and_in_order() throws Exception {
    initialize();
    // The text of each call is the length of the answer's padding.
    upstream.script(
        (r, s) -> {
          int n = Integer.parseInt(r.body().replaceAll(".*\"text\":\"(\\d+)\".*", "$1"));
          json(
              s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"pad\":\"" + "p".repeat(n) + "\"}");
        });
    int envelope = "{\"jsonrpc\":\"2.0\",\"id\":1,\"pad\":\"\"}".length();
    int[] sizes = {
      0, Forwarder.INLINE_BODY - envelope, Forwarder.INLINE_BODY - envelope + 1, 40_000
    };

    for (int n : sizes) {
      client.send(post(SESSION, call(n, Integer.toString(n))));
    }
    for (int n : sizes) {
      RawClient.Answer answer = client.read();
      assertThat(answer.status()).isEqualTo(200);
      assertThat(answer.headers()).containsEntry("content-length", Integer.toString(envelope + n));
      assertThat(answer.body())
          .isEqualTo("{\"jsonrpc\":\"2.0\",\"id\":1,\"pad\":\"" + "p".repeat(n) + "\"}");
    }
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void an_answer_without_a_length_reaches_the_client_chunked_and_the_connection_goes_on()
      throws Exception {
    initialize();
    upstream.script(
        (r, s) ->
            raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n"
                    + "10\r\ndata: {\"id\":1}\n\n\r\n"
                    + "10\r\ndata: {\"id\":2}\n\n\r\n0\r\n\r\n"));

    client.send(post(SESSION, call(1, "sse")));
    RawClient.Answer sse = client.read();
    upstream.script((r, s) -> json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":2}"));
    client.send(post(SESSION, call(2, "json")));
    RawClient.Answer next = client.read();

    assertThat(sse.headers())
        .containsEntry("transfer-encoding", "chunked")
        .containsEntry("content-type", "text/event-stream")
        .containsEntry("x-accel-buffering", "no");
    assertThat(sse.body()).isEqualTo("data: {\"id\":1}\n\ndata: {\"id\":2}\n\n");
    assertThat(next.headers()).containsEntry("content-length", "24");
    assertThat(next.body()).isEqualTo("{\"jsonrpc\":\"2.0\",\"id\":2}");
  }

  @Test
  void connection_close_is_answered_and_then_the_connection_closes() throws Exception {
    initialize();

    client.send(post(SESSION, call(1, "bye"), "Connection: close\r\n"));
    RawClient.Answer answer = client.read();

    assertThat(answer.status()).isEqualTo(200);
    assertThat(answer.headers()).containsEntry("connection", "close");
    assertThat(client.next()).isEqualTo(-1);
  }

  /**
   * On a session, sends a call whose answer the upstream holds until the returned latch opens, and
   * returns once the upstream has it.
   */
  CountDownLatch sendHeldCall(String text) throws Exception {
    initialize();
    CountDownLatch release = new CountDownLatch(1);
    upstream.script(
        (r, s) -> {
          if (r.body().contains("\"" + text + "\"")) {
            assertThat(release.await(10, TimeUnit.SECONDS)).isTrue();
          }
          json(
              s,
              200,
              Map.of(),
              "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":" + quote(r.body()) + "}");
        });
    client.send(post(SESSION, call(1, text)));
    await().untilAsserted(() -> assertThat(upstream.seen).anyMatch(r -> r.body().contains(text)));
    return release;
  }

  @Test
  void a_request_sent_while_the_answer_before_it_is_awaited_is_served_after_that_answer()
      throws Exception {
    CountDownLatch release = sendHeldCall("one");

    client.send(
        post(SESSION, call(2, "two"))); // the connection reads it only once "one" is answered
    release.countDown();

    assertThat(client.read().body()).contains("one");
    assertThat(client.read().body()).contains("two");
    client.send(post(SESSION, call(3, "three")));
    assertThat(client.read().body()).contains("three");
    assertThat(upstream.seen)
        .extracting(ScriptedUpstream.Request::body)
        .filteredOn(b -> b.contains("tools/call"))
        .hasSize(3);
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
  }

  @Test
  void a_client_that_closes_while_its_answer_is_awaited_frees_its_permit_and_others_go_on()
      throws Exception {
    CountDownLatch release = sendHeldCall("gone");
    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isEqualTo(1.0));
    client.close();
    release.countDown();

    await().untilAsserted(() -> assertThat(metric(guard, INFLIGHT)).isZero());
    client = new RawClient(guard.port());
    client.send(post(SESSION, call(2, "still")));
    assertThat(client.read().body()).contains("still");
  }
}
