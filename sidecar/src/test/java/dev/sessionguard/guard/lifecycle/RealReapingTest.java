package dev.sessionguard.guard.lifecycle;

import static dev.sessionguard.guard.NodePeer.event;
import static dev.sessionguard.guard.TestGuards.metric;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.NodePeer;
import dev.sessionguard.guard.TestGuards;
import java.net.URI;
import java.net.http.HttpRequest;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Reaping end to end: server-everything behind the guard, the TypeScript SDK client in front. */
class RealReapingTest {
  NodePeer everything;
  URI upstream;
  Guard guard;

  @BeforeEach
  void start() throws Exception {
    everything = NodePeer.start("everything.mjs", "--port", "0", "--stdin-lifeline");
    upstream = URI.create(everything.await(event("listening"), 30).get("url").asText());
    // long enough that a stalled machine does not reap the session before the test looks at it
    guard = TestGuards.start(upstream, "sessions: {max: 10, perClient: 5, idleTimeout: 5s}\n");
  }

  @AfterEach
  void stop() {
    if (guard != null) {
      guard.close();
    }
    if (everything != null) {
      everything.close();
    }
  }

  /** Asks server-everything itself, not through the guard (that would be activity). */
  int upstreamStatusFor(String sessionId) {
    return TestGuards.send(
            HttpRequest.newBuilder(upstream)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .header("Mcp-Session-Id", sessionId)
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"))
                .build())
        .statusCode();
  }

  @Test
  void an_idle_session_is_deleted_upstream_its_client_gets_404_and_may_initialize_again()
      throws Exception {
    try (NodePeer client =
        NodePeer.start("session-client.mjs", TestGuards.mcp(guard).toString(), "--hold")) {
      String sessionId = client.await(event("holding"), 30).get("sessionId").asText();
      assertThat(guard.sessions().active()).isEqualTo(1);
      assertThat(upstreamStatusFor(sessionId)).isEqualTo(202); // the server knows it

      // The guard's DELETE reaches the server: it answers that id with 400 from then on.
      await()
          .atMost(Duration.ofSeconds(20))
          .pollInterval(Duration.ofMillis(200))
          .until(() -> upstreamStatusFor(sessionId) == 400);
      assertThat(guard.sessions().active()).isZero();
      assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"idle\"}")).isEqualTo(1);
      assertThat(metric(guard, "sessionguard_upstream_delete_failures_total")).isZero();

      client.send("list");
      JsonNode step = client.await(l -> "step".equals(l.path("event").asText()), 30);
      assertThat(step.get("ok").asBoolean()).isFalse();
      assertThat(step.get("status").asInt()).isEqualTo(404);
    }

    try (NodePeer again =
        NodePeer.start(
            "session-client.mjs", TestGuards.mcp(guard).toString(), "--steps", "list,delete")) {
      assertThat(again.waitFor(60)).as("lines %s", again.lines).isZero();
    }
    assertThat(metric(guard, "sessionguard_admissions_total{kind=\"new\"}")).isEqualTo(2);
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"client\"}")).isEqualTo(1);
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isZero();
              assertThat(guard.sessions().clients()).isZero();
              assertThat(guard.streams().total()).isZero(); // the reaped GET stream was closed
              assertThat(guard.requests().total()).isZero();
            });
  }
}
