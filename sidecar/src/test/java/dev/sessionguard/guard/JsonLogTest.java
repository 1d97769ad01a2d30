package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.policy.PolicyJson;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SESSIONGUARD_LOG_FORMAT=json makes every log line one JSON object. */
class JsonLogTest {
  @TempDir Path dir;

  @Test
  void json_log_format_writes_one_object_per_event() throws Exception {
    Path policy = Files.writeString(dir.resolve("policy.yaml"), "name: json-logs\n");
    ProcessBuilder builder =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                System.getProperty("java.class.path"),
                "dev.sessionguard.guard.Main",
                "--policy",
                policy.toString(),
                "--upstream",
                "http://127.0.0.1:9/mcp",
                "--port",
                "0",
                "--admin-port",
                "0",
                "--host",
                "127.0.0.1")
            .redirectErrorStream(true);
    builder.environment().put("SESSIONGUARD_LOG_FORMAT", "json");
    Process guard = builder.start();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(guard.getInputStream(), StandardCharsets.UTF_8))) {
      String first =
          CompletableFuture.supplyAsync(
                  () -> {
                    try {
                      return out.readLine();
                    } catch (Exception e) {
                      return null;
                    }
                  })
              .get(60, TimeUnit.SECONDS);
      JsonNode line = PolicyJson.json().readTree(first);
      assertThat(line.path("level").asText()).isEqualTo("INFO");
      assertThat(line.path("formattedMessage").asText()).startsWith("started policy=json-logs");
    } finally {
      guard.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }
}
