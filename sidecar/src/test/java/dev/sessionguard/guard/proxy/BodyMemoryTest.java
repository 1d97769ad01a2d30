package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.json;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bodies are held whole before any cap applies: together they are held to the body budget, as they
 * arrive; one that does not fit now is refused with 503, one that never could with 413, whatever
 * path it is for.
 */
class BodyMemoryTest {
  static final int BUDGET = 300_000;

  ScriptedUpstream upstream;
  Guard guard;
  final CountDownLatch release = new CountDownLatch(1);

  @BeforeEach
  void start() throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) -> {
          if (r.body().contains("\"hold\"")) {
            release.await(10, TimeUnit.SECONDS);
          }
          json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
        });
    guard =
        Guard.start(
            TestGuards.config(upstream.mcpUrl(), ""),
            Clock.systemUTC(),
            Map.of(BodyBudget.ENV, Integer.toString(BUDGET)));
  }

  @AfterEach
  void stop() throws Exception {
    release.countDown();
    guard.close();
    upstream.close();
  }

  /** A tools/list of about {@code bytes}, without a session (relayed as it is). */
  HttpRequest post(String path, int bytes, String method) {
    String pad = "x".repeat(bytes - 70);
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + guard.port() + path))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json, text/event-stream")
        .POST(
            HttpRequest.BodyPublishers.ofString(
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\""
                    + method
                    + "\",\"params\":{\"pad\":\""
                    + pad
                    + "\"}}"))
        .build();
  }

  /**
   * The answer to a POST of {@code length} bytes sent as clients send large bodies, with {@code
   * Expect: 100-continue}: its head, then the body only once the guard asks for it. A refused body
   * is never sent (sent anyway, a body the guard does not read may make its close a reset that
   * loses the answer). Written by hand: the JDK client waits for ever on a final answer that comes
   * instead of 100.
   */
  String refusedUnsent(String path, int length) throws Exception {
    try (Socket s = new Socket("127.0.0.1", guard.port())) {
      s.setSoTimeout(10_000);
      s.getOutputStream()
          .write(
              ("POST "
                      + path
                      + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + "Expect: 100-continue\r\nContent-Length: "
                      + length
                      + "\r\n\r\n")
                  .getBytes(StandardCharsets.ISO_8859_1));
      return new String(s.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
    }
  }

  @Test
  void a_body_larger_than_half_the_budget_gets_413_before_it_is_read_on_any_path()
      throws Exception {
    for (String path : new String[] {"/mcp", "/upload"}) {
      String refused = refusedUnsent(path, 200_000);

      assertThat(refused).as(path).startsWith("HTTP/1.1 413"); // it would never fit: no retry
      assertThat(refused).as(path).contains("-31007", "too_large");
    }
    assertThat(upstream.seen).isEmpty();
    // what was refused took nothing: a body that fits passes, on both paths
    assertThat(send(post("/mcp", 140_000, "tools/list")).statusCode()).isEqualTo(200);
    // (a share goes back as its handler ends, a moment after the client has its answer)
    await().until(() -> metric(guard, "sessionguard_body_memory_bytes") == 0);
    assertThat(send(post("/upload", 140_000, "tools/list")).statusCode()).isEqualTo(200);
  }

  @Test
  void bodies_held_together_share_the_budget_and_give_it_back_when_their_answers_end()
      throws Exception {
    CompletableFuture<HttpResponse<String>> held =
        TestGuards.HTTP.sendAsync(
            post("/mcp", 100_000, "hold"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> !upstream.seen.isEmpty());

    // 100 KB of the 300 KB are held while its answer is out; another 100 KB needs twice that
    // while its pieces are joined
    String refused = refusedUnsent("/mcp", 120_000);
    assertThat(refused).startsWith("HTTP/1.1 503").containsIgnoringCase("Retry-After: ");
    assertThat(refused).contains("-31016", "body_memory");
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"body_memory\"}")).isEqualTo(1);
    assertThat(send(post("/mcp", 60_000, "tools/list")).statusCode()).isEqualTo(200);

    release.countDown();
    assertThat(held.join().statusCode()).isEqualTo(200);
    // its share goes back as its handler ends, a moment after the client has its answer
    await().until(() -> metric(guard, "sessionguard_body_memory_bytes") == 0);
    assertThat(metric(guard, "sessionguard_body_memory_limit_bytes")).isEqualTo(BUDGET);
    for (int i = 0; i < 5; i++) { // and nothing of it stays held
      assertThat(send(post("/mcp", 140_000, "tools/list")).statusCode()).isEqualTo(200);
      await().until(() -> metric(guard, "sessionguard_body_memory_bytes") == 0);
    }
  }

  /** A client that declares a large body and sends it slowly holds only what has come. */
  @Test
  void a_body_sent_slowly_holds_what_has_arrived_not_what_it_declares() throws Exception {
    try (Socket slow = new Socket("127.0.0.1", guard.port())) {
      slow.getOutputStream()
          .write(
              ("POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + "Content-Length: 140000\r\n\r\n{\"jsonrpc\":")
                  .getBytes(StandardCharsets.ISO_8859_1));
      slow.getOutputStream().flush();
      // declared, 140 KB (280 KB to join); come, 11 bytes: one first piece of 1 KiB is held
      await().until(() -> metric(guard, "sessionguard_body_memory_bytes") == 1024);

      // so 100 KB more (200 KB at its peak) fits the 300 KB budget beside it
      assertThat(send(post("/mcp", 100_000, "tools/list")).statusCode()).isEqualTo(200);
      assertThat(slow.getInputStream().available()).isZero(); // still waiting for its body
    }
  }
}
