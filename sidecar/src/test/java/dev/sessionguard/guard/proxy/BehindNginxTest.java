package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import dev.sessionguard.guard.testing.NginxServer;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The guard behind a real nginx, as behind an ingress: what reaches clients, and who they are. */
class BehindNginxTest {
  @TempDir Path dir;
  final CountDownLatch second = new CountDownLatch(1);
  final AtomicInteger issued = new AtomicInteger();
  ScriptedUpstream upstream;
  Guard guard;
  NginxServer nginx;

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) -> {
          if (r.isInitialize()) {
            ScriptedUpstream.issueSession(s, issued);
            return;
          }
          // A tool call answered as SSE: one event now, the next when the test says.
          ScriptedUpstream.raw(
              s,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  + "Transfer-Encoding: chunked\r\n\r\n");
          ScriptedUpstream.raw(s, chunk("event: message\ndata: {\"progress\":1}\n\n"));
          second.await(30, TimeUnit.SECONDS);
          ScriptedUpstream.raw(
              s, chunk("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n"));
          ScriptedUpstream.raw(s, "0\r\n\r\n");
        });
  }

  static String chunk(String text) {
    return Integer.toHexString(text.getBytes(StandardCharsets.UTF_8).length)
        + "\r\n"
        + text
        + "\r\n";
  }

  void guardAndNginx(String yaml) throws Exception {
    guard = TestGuards.start(upstream.mcpUrl(), yaml);
    nginx = NginxServer.proxyTo(guard.port(), dir);
  }

  @AfterEach
  void stop() throws Exception {
    second.countDown();
    if (nginx != null) {
      nginx.close();
    }
    if (guard != null) {
      guard.close();
    }
    upstream.close();
  }

  HttpRequest.Builder post(String body, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(nginx.url("/mcp"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b;
  }

  static final String INITIALIZE =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
          + "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";

  @Test
  void sse_events_reach_the_client_through_nginx_as_they_come() throws Exception {
    guardAndNginx("sessions: {max: 10, perClient: 5}\n");
    HttpResponse<String> init = TestGuards.send(post(INITIALIZE).build());
    assertThat(init.statusCode()).as(nginx.log()).isEqualTo(200);
    String session = init.headers().firstValue("Mcp-Session-Id").orElseThrow();

    HttpResponse<InputStream> call =
        TestGuards.HTTP.send(
            post(
                    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
                        + "\"params\":{\"name\":\"slow\"}}",
                    "Mcp-Session-Id",
                    session)
                .build(),
            HttpResponse.BodyHandlers.ofInputStream());
    assertThat(call.statusCode()).isEqualTo(200);
    BufferedReader events =
        new BufferedReader(new InputStreamReader(call.body(), StandardCharsets.UTF_8));

    // The first event arrives while the upstream still holds the second: streamed end to end,
    // through nginx's default configuration, not held until the answer ends.
    assertThat(CompletableFuture.supplyAsync(() -> dataLine(events)))
        .succeedsWithin(Duration.ofSeconds(10))
        .isEqualTo("data: {\"progress\":1}");
    second.countDown();
    assertThat(CompletableFuture.supplyAsync(() -> dataLine(events)))
        .succeedsWithin(Duration.ofSeconds(10))
        .asString()
        .contains("\"result\"");
  }

  @Test
  void clients_behind_nginx_are_told_apart_by_their_forwarded_address() throws Exception {
    guardAndNginx(
        "identity: {source: Address, trustedProxies: [127.0.0.1]}\n"
            + "sessions: {max: 10, perClient: 1}\n");

    // nginx appends the address it saw (127.0.0.1, trusted) to what came: the client is the hop
    // before it, not nginx.
    assertThat(
            TestGuards.send(post(INITIALIZE, "X-Forwarded-For", "192.0.2.1").build()).statusCode())
        .isEqualTo(200);
    assertThat(
            TestGuards.send(post(INITIALIZE, "X-Forwarded-For", "192.0.2.1").build()).statusCode())
        .isEqualTo(429);
    assertThat(
            TestGuards.send(post(INITIALIZE, "X-Forwarded-For", "192.0.2.2").build()).statusCode())
        .isEqualTo(200);
    assertThat(guard.sessions().topHolders(10))
        .extracting(h -> h.client() + "=" + h.sessions())
        .containsExactlyInAnyOrder("addr:192.0.2.1=1", "addr:192.0.2.2=1");
  }

  /** The next {@code data:} line of an SSE stream, or null at its end. */
  static String dataLine(BufferedReader events) {
    try {
      for (String line = events.readLine(); line != null; line = events.readLine()) {
        if (line.startsWith("data:")) {
          return line;
        }
      }
      return null;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
