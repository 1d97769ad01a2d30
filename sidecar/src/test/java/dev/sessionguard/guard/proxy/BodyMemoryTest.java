package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.ScriptedUpstream.json;
import static dev.sessionguard.guard.TestGuards.metric;
import static dev.sessionguard.guard.TestGuards.send;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bodies are held whole before any cap applies: together they are held to the body budget, and a
 * body that does not fit is refused with 503 before it is read, whatever path it is for.
 */
class BodyMemoryTest {
  static final int BUDGET = 100_000;

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

  /**
   * A tools/list of about {@code bytes}, without a session (relayed as it is). With {@code Expect:
   * 100-continue}, as clients send large bodies: a refused one is then never sent (sent anyway, a
   * body the guard does not read may make its close a reset that loses the answer).
   */
  HttpRequest post(String path, int bytes, String method) {
    String pad = "x".repeat(bytes - 70);
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + guard.port() + path))
        .expectContinue(true)
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

  @Test
  void a_body_the_budget_cannot_hold_gets_503_before_it_is_read_on_any_path() {
    for (String path : new String[] {"/mcp", "/upload"}) {
      HttpResponse<String> refused = send(post(path, 150_000, "tools/list"));

      assertThat(refused.statusCode()).as(path).isEqualTo(503);
      assertThat(refused.headers().firstValue("Retry-After")).as(path).isPresent();
      assertThat(refused.body()).as(path).contains("-31016", "body_memory");
    }
    assertThat(upstream.seen).isEmpty();
    assertThat(metric(guard, "sessionguard_refusals_total{reason=\"body_memory\"}")).isEqualTo(2);
    // what was refused took nothing: a body that fits passes, on both paths
    assertThat(send(post("/mcp", 90_000, "tools/list")).statusCode()).isEqualTo(200);
    assertThat(send(post("/upload", 90_000, "tools/list")).statusCode()).isEqualTo(200);
  }

  @Test
  void bodies_held_together_share_the_budget_and_give_it_back_when_their_answers_end() {
    CompletableFuture<HttpResponse<String>> held =
        TestGuards.HTTP.sendAsync(
            post("/mcp", 60_000, "hold"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> !upstream.seen.isEmpty());

    // 60 KB of the 100 KB are held while the first answer is out
    HttpResponse<String> refused = send(post("/mcp", 60_000, "tools/list"));
    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(refused.body()).contains("body_memory");
    assertThat(send(post("/mcp", 30_000, "tools/list")).statusCode()).isEqualTo(200);

    release.countDown();
    assertThat(held.join().statusCode()).isEqualTo(200);
    for (int i = 0; i < 5; i++) { // and nothing of it stays held
      assertThat(send(post("/mcp", 90_000, "tools/list")).statusCode()).isEqualTo(200);
    }
  }
}
