package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.ScriptedUpstream;
import dev.sessionguard.guard.TestGuards;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class StreamingTest {

  @Test
  void one_mebibyte_of_sse_passes_through_intact_and_in_order() throws Exception {
    int events = 1024;
    String pad = "x".repeat(1030);
    try (ScriptedUpstream upstream = new ScriptedUpstream();
        Guard guard = TestGuards.start(upstream.mcpUrl(), "")) {
      upstream.script(
          (r, s) -> {
            ScriptedUpstream.raw(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    + "Transfer-Encoding: chunked\r\n\r\n");
            for (int i = 0; i < events; i++) {
              String event = "id: " + i + "\ndata: " + i + " " + pad + "\n\n";
              ScriptedUpstream.raw(
                  s, Integer.toHexString(event.length()) + "\r\n" + event + "\r\n");
            }
            ScriptedUpstream.raw(s, "0\r\n\r\n");
          });
      HttpResponse<InputStream> r =
          TestGuards.HTTP.send(
              HttpRequest.newBuilder(TestGuards.mcp(guard))
                  .header("Content-Type", "application/json")
                  .POST(
                      HttpRequest.BodyPublishers.ofString(
                          "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"))
                  .build(),
              HttpResponse.BodyHandlers.ofInputStream());

      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.headers().firstValue("X-Accel-Buffering")).hasValue("no");
      assertThat(r.headers().map()).doesNotContainKey("content-encoding");
      int next = 0;
      long bytes = 0;
      try (BufferedReader in =
          new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          bytes += line.length() + 1;
          if (line.startsWith("data: ")) {
            assertThat(line).isEqualTo("data: " + next + " " + pad);
            next++;
          }
        }
      }
      assertThat(next).isEqualTo(events);
      assertThat(bytes).isGreaterThanOrEqualTo(1 << 20);
      await().untilAsserted(() -> assertThat(guard.requests().total()).isZero());
    }
  }
}
