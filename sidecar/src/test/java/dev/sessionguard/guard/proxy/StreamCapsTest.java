package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.TestGuards.initialize;
import static dev.sessionguard.guard.TestGuards.mcp;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.policy.PolicyJson;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Standalone GET streams (session era) hold stream permits, like listen streams. */
class StreamCapsTest {
  final AtomicInteger issued = new AtomicInteger();
  final AtomicInteger upstreamStreamsOpen = new AtomicInteger();
  final List<HttpResponse<InputStream>> open = new ArrayList<>();
  ScriptedUpstream upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) -> {
          if (r.isInitialize()) {
            ScriptedUpstream.issueSession(s, issued);
          } else if (r.method().equals("GET")) {
            // A standalone stream: headers, then silence until the guard hangs up.
            upstreamStreamsOpen.incrementAndGet(); // before the guard can see the stream
            ScriptedUpstream.raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            try {
              while (s.getInputStream().read() != -1) {
                // wait for the guard to close it
              }
            } finally {
              upstreamStreamsOpen.decrementAndGet();
            }
            s.close();
          } else {
            ScriptedUpstream.json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
          }
        });
    guard =
        TestGuards.start(
            upstream.mcpUrl(),
            "identity: {source: Header, header: {name: X-User}}\n"
                + "requests: {maxInFlight: 1, perClientInFlight: 1, maxStreams: 3,"
                + " perClientStreams: 2}\n");
  }

  @AfterEach
  void stop() throws Exception {
    for (HttpResponse<InputStream> r : open) {
      r.body().close();
    }
    guard.close();
    upstream.close();
  }

  String session(String user) {
    HttpResponse<String> r = send(initialize(guard, 1, "X-User", user));
    assertThat(r.statusCode()).isEqualTo(200);
    return r.headers().firstValue("Mcp-Session-Id").orElseThrow();
  }

  HttpResponse<InputStream> stream(String user, String session) throws Exception {
    HttpResponse<InputStream> r =
        TestGuards.HTTP.send(
            HttpRequest.newBuilder(mcp(guard))
                .header("Accept", "text/event-stream")
                .header("Mcp-Session-Id", session)
                .header("X-User", user)
                .GET()
                .build(),
            HttpResponse.BodyHandlers.ofInputStream());
    open.add(r);
    return r;
  }

  static String reason(HttpResponse<InputStream> r) throws Exception {
    return PolicyJson.json().readTree(r.body().readAllBytes()).at("/error/data/reason").asText();
  }

  @Test
  void standalone_get_streams_are_held_to_the_stream_caps_not_the_in_flight_caps()
      throws Exception {
    String alice1 = session("alice");
    String alice2 = session("alice");
    String alice3 = session("alice");
    String bob = session("bob");
    String carol = session("carol");

    assertThat(stream("alice", alice1).statusCode()).isEqualTo(200);
    assertThat(stream("alice", alice2).statusCode()).isEqualTo(200);
    HttpResponse<InputStream> aliceThird = stream("alice", alice3);
    assertThat(aliceThird.statusCode()).isEqualTo(429);
    assertThat(aliceThird.headers().firstValue("Retry-After")).isPresent();
    assertThat(reason(aliceThird)).isEqualTo("client_streams");

    assertThat(stream("bob", bob).statusCode()).isEqualTo(200);
    HttpResponse<InputStream> carolFirst = stream("carol", carol);
    assertThat(carolFirst.statusCode()).isEqualTo(503);
    assertThat(carolFirst.headers().firstValue("Retry-After")).isPresent();
    assertThat(reason(carolFirst)).isEqualTo("global_streams");

    await().untilAsserted(() -> assertThat(guard.streams().total()).isEqualTo(3));
    assertThat(metric(guard, "sessionguard_streams_active")).isEqualTo(3);
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"client_streams\"}"))
        .isEqualTo(1);
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"global_streams\"}"))
        .isEqualTo(1);
    assertThat(guard.requests().total()).isZero(); // open streams hold no in-flight permit

    // The in-flight cap of 1 still lets a call through beside three open streams.
    HttpResponse<String> call =
        send(
            HttpRequest.newBuilder(mcp(guard))
                .header("Content-Type", "application/json")
                .header("Mcp-Session-Id", carol)
                .header("X-User", "carol")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\"}"))
                .build());
    assertThat(call.statusCode()).isEqualTo(200);

    // Ending a session closes its stream and gives its permit back: room for carol's.
    assertThat(
            send(HttpRequest.newBuilder(mcp(guard))
                    .DELETE()
                    .header("Mcp-Session-Id", bob)
                    .header("X-User", "bob")
                    .build())
                .statusCode())
        .isEqualTo(200);
    await().untilAsserted(() -> assertThat(guard.streams().total()).isEqualTo(2));
    assertThat(stream("carol", carol).statusCode()).isEqualTo(200);
    await().untilAsserted(() -> assertThat(guard.streams().total()).isEqualTo(3));
  }

  @Test
  void ending_a_session_closes_every_stream_it_holds_not_only_the_latest() throws Exception {
    String alice = session("alice");
    HttpResponse<InputStream> first = stream("alice", alice);
    HttpResponse<InputStream> second = stream("alice", alice);
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(second.statusCode()).isEqualTo(200);
    await().untilAsserted(() -> assertThat(guard.streams().total()).isEqualTo(2));

    HttpResponse<String> deleted =
        send(
            HttpRequest.newBuilder(mcp(guard))
                .DELETE()
                .header("Mcp-Session-Id", alice)
                .header("X-User", "alice")
                .build());

    assertThat(deleted.statusCode()).isEqualTo(200);
    await().untilAsserted(() -> assertThat(guard.streams().total()).isZero());
    assertThat(CompletableFuture.supplyAsync(() -> ended(first)))
        .succeedsWithin(Duration.ofSeconds(10))
        .isEqualTo(true);
    assertThat(CompletableFuture.supplyAsync(() -> ended(second)))
        .succeedsWithin(Duration.ofSeconds(10))
        .isEqualTo(true);
  }

  @Test
  void a_stream_whose_client_hung_up_gives_its_permit_back_while_the_upstream_is_quiet()
      throws Exception {
    String alice = session("alice");
    try (var client = new java.net.Socket("127.0.0.1", guard.port())) {
      client.setSoTimeout(10_000);
      client
          .getOutputStream()
          .write(
              ("GET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                      + "Mcp-Session-Id: "
                      + alice
                      + "\r\nX-User: alice\r\n\r\n")
                  .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      var in = new java.io.BufferedReader(new java.io.InputStreamReader(client.getInputStream()));
      assertThat(in.readLine()).isEqualTo("HTTP/1.1 200 OK");
      await().untilAsserted(() -> assertThat(guard.streams().total()).isEqualTo(1));
    } // the client hangs up; the upstream says nothing

    await().untilAsserted(() -> assertThat(guard.streams().total()).isZero());
    await().untilAsserted(() -> assertThat(upstreamStreamsOpen.get()).isZero());
  }

  /** Reads the client's side of the stream to its end (clean or cut off): true when it ends. */
  static boolean ended(HttpResponse<InputStream> r) {
    try {
      r.body().readAllBytes();
    } catch (java.io.IOException cutOff) {
      // cut off: ended too
    }
    return true;
  }
}
