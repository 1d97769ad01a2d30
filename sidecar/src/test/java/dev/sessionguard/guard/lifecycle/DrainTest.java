package dev.sessionguard.guard.lifecycle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.GuardProcess;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SIGTERM to a real guard process: the graceful way out. */
class DrainTest {
  @TempDir Path dir;
  final CountDownLatch release = new CountDownLatch(1);
  ScriptedUpstream upstream;
  GuardProcess guard;

  @AfterEach
  void stop() throws Exception {
    release.countDown();
    if (guard != null) {
      guard.printLog(); // the guard's own account, for failures
      guard.close();
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  @Test
  void sigterm_lets_work_in_progress_finish_serves_known_sessions_refuses_new_and_exits_0()
      throws Exception {
    upstream = new ScriptedUpstream();
    upstream.script(
        (r, s) -> {
          if (r.isInitialize()) {
            ScriptedUpstream.json(s, 200, Map.of("Mcp-Session-Id", "s-1"), "{}");
          } else {
            if (r.body().contains("slow")) {
              release.await(60, TimeUnit.SECONDS); // in progress until the test has looked
            }
            ScriptedUpstream.json(s, 200, Map.of(), "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
          }
        });
    Path policy = dir.resolve("policy.yaml");
    Files.writeString(policy, "name: drain\ntimeouts: {drainDelay: 1s, drain: 20s}\n");
    guard = GuardProcess.start("drain", policy, upstream.mcpUrl()).awaitStarted();
    URI mcp = guard.mcp();
    URI readyz = guard.admin("/readyz");
    assertThat(status(HttpRequest.newBuilder(readyz).build())).isEqualTo(200);
    String session =
        TestGuards.send(init(mcp)).headers().firstValue("Mcp-Session-Id").orElseThrow();

    CompletableFuture<HttpResponse<String>> slow =
        TestGuards.HTTP.sendAsync(post(mcp, session, "slow"), HttpResponse.BodyHandlers.ofString());
    await().until(() -> upstream.seen.stream().anyMatch(r -> r.body().contains("slow")));
    guard.terminate();

    await()
        .atMost(Duration.ofSeconds(30)) // generous: a loaded machine starts hooks slowly
        .until(() -> guard.logged("drain step=not-ready"));
    await()
        .atMost(Duration.ofSeconds(30))
        .until(() -> guard.logged("drain step=refusing-new-work"));
    HttpResponse<String> refused = TestGuards.send(init(mcp));
    assertThat(refused.statusCode()).isEqualTo(503);
    assertThat(refused.body()).contains("\"reason\":\"draining\"").contains("-31020");
    assertThat(status(post(mcp, session, "quick"))).isEqualTo(200); // a known session: forwarded
    assertThat(slow).isNotDone(); // still in progress: the guard waits for it

    release.countDown();
    assertThat(slow.get(40, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    Integer exit = guard.awaitExit(Duration.ofSeconds(60));
    assertThat(exit).as("exited; log %s", guard.log()).isNotNull();
    assertThat(exit).as("log %s", guard.log()).isZero();
    assertThat(upstream.seen).noneMatch(r -> r.method().equals("DELETE"));
  }

  static int status(HttpRequest request) {
    return TestGuards.send(request).statusCode();
  }

  static HttpRequest init(URI mcp) {
    return HttpRequest.newBuilder(mcp)
        .header("Content-Type", "application/json")
        .POST(
            HttpRequest.BodyPublishers.ofString(
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}"))
        .build();
  }

  static HttpRequest post(URI mcp, String session, String name) {
    return HttpRequest.newBuilder(mcp)
        .header("Content-Type", "application/json")
        .header("Mcp-Session-Id", session)
        .POST(
            HttpRequest.BodyPublishers.ofString(
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\""
                    + name
                    + "\"}}"))
        .build();
  }
}
