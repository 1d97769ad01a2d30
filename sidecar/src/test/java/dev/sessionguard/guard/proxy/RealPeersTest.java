package dev.sessionguard.guard.proxy;

import static dev.sessionguard.guard.NodePeer.event;
import static dev.sessionguard.guard.TestGuards.metric;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.NodePeer;
import dev.sessionguard.guard.TestGuards;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The guard in front of the real server-everything, driven by the real SDK clients. */
class RealPeersTest {
  static NodePeer everything;
  static Guard guard;

  @BeforeAll
  static void start() throws Exception {
    everything = NodePeer.start("everything.mjs", "--port", "0", "--stdin-lifeline");
    JsonNode listening = everything.await(event("listening"), 30);
    guard =
        TestGuards.start(
            URI.create(listening.get("url").asText()), "sessions: {max: 10, perClient: 5}\n");
  }

  @AfterAll
  static void stop() {
    if (guard != null) {
      guard.close();
    }
    if (everything != null) {
      everything.close();
    }
  }

  @Test
  void the_typescript_sdk_client_initializes_lists_calls_streams_progress_and_deletes()
      throws Exception {
    double endedBefore = metric(guard, "sessionguard_sessions_ended_total{reason=\"client\"}");
    try (NodePeer client =
        NodePeer.start(
            "session-client.mjs",
            TestGuards.mcp(guard).toString(),
            "--steps",
            "list,call,long=4:4,delete")) {
      assertThat(client.waitFor(60)).as("exit code; lines %s", client.lines).isZero();
      assertThat(client.lines.stream().filter(event("step")))
          .extracting(l -> l.get("step").asText() + "=" + l.get("ok").asBoolean())
          .containsExactly("list=true", "call=true", "long=4:4=true", "delete=true");
      // every progress notification relayed, in order (that they are not held back until the
      // answer ends is shown without timing by FastPathTest and BehindNginxTest)
      assertThat(client.lines.stream().filter(event("progress")))
          .extracting(p -> p.get("progress").asInt())
          .containsExactly(1, 2, 3, 4);
      assertThat(client.lines.stream().filter(event("http")))
          .anyMatch(
              l -> l.path("method").asText().equals("GET") && l.path("status").asInt() == 200);
    }
    await()
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isZero();
              assertThat(guard.sessions().clients()).isZero();
              assertThat(guard.requests().total()).isZero();
            });
    assertThat(metric(guard, "sessionguard_sessions_ended_total{reason=\"client\"}"))
        .isEqualTo(endedBefore + 1);
  }

  @Test
  void the_java_sdk_client_initializes_lists_calls_streams_progress_and_deletes() {
    List<Double> arrivals = new CopyOnWriteArrayList<>();
    HttpClientStreamableHttpTransport transport =
        HttpClientStreamableHttpTransport.builder("http://127.0.0.1:" + guard.port())
            .endpoint("/mcp")
            .build();
    McpSyncClient client =
        McpClient.sync(transport)
            .requestTimeout(Duration.ofSeconds(30))
            .progressConsumer(p -> arrivals.add(p.progress()))
            .build();
    try {
      client.initialize();
      await().untilAsserted(() -> assertThat(guard.sessions().active()).isEqualTo(1));
      assertThat(client.listTools().tools())
          .extracting(McpSchema.Tool::name)
          .contains("echo", "trigger-long-running-operation");
      McpSchema.CallToolResult echo =
          client.callTool(
              new McpSchema.CallToolRequest(
                  "echo", Map.<String, Object>of("message", "hi"), Map.<String, Object>of()));
      assertThat(((McpSchema.TextContent) echo.content().get(0)).text()).contains("hi");

      client.callTool(
          new McpSchema.CallToolRequest(
              "trigger-long-running-operation",
              Map.<String, Object>of("duration", 3, "steps", 3),
              Map.<String, Object>of("progressToken", "java-progress")));
      // The SDK hands progress to its consumer on a thread of its own: the last one may still be
      // on its way when the result is back.
      // Every one relayed, in order (that none is held back until the answer ends is shown
      // without timing by FastPathTest and BehindNginxTest).
      await().untilAsserted(() -> assertThat(arrivals).containsExactly(1.0, 2.0, 3.0));
    } finally {
      client.closeGracefully();
    }
    await()
        .untilAsserted(
            () -> {
              assertThat(guard.sessions().active()).isZero();
              assertThat(guard.sessions().clients()).isZero();
            });
  }
}
