package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.policy.PolicyJson;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The guard's log lines, from a guard process as shipped: its class path without the test classes
 * (whose logback-test.xml would otherwise win).
 */
class LogFormatTest {
  @TempDir Path dir;

  @Test
  void plain_log_format_writes_one_line_per_event() throws Exception {
    String first = firstLine(Map.of(), List.of());

    assertThat(first)
        .matches(
            "\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z INFO  Main - started policy=logs"
                + " hash=\\w+ mode=Enforce listen=127\\.0\\.0\\.1:\\d+ admin=\\d+"
                + " upstream=http://127\\.0\\.0\\.1:9/mcp");
  }

  @Test
  void json_log_format_writes_one_object_per_event() throws Exception {
    String first = firstLine(Map.of(LogFormat.ENV, "json"), List.of());

    JsonNode line = PolicyJson.json().readTree(first);
    assertThat(line.path("level").asText()).isEqualTo("INFO");
    assertThat(line.path("loggerName").asText()).isEqualTo(Main.class.getName());
    assertThat(line.path("formattedMessage").asText()).startsWith("started policy=logs");
    assertThat(line.has("timestamp")).isTrue();
    // the formatted message only: raw arguments, MDC and key-value pairs never reach the log
    assertThat(line.has("arguments")).isFalse();
    assertThat(line.has("message")).isFalse();
    assertThat(line.has("mdc")).isFalse();
    assertThat(line.has("kvpList")).isFalse();
  }

  @Test
  void a_logback_configuration_file_given_on_the_command_line_wins() throws Exception {
    Path config =
        Files.writeString(
            dir.resolve("logback-own.xml"),
            """
            <configuration>
              <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
                <encoder><pattern>own %level %msg%n</pattern></encoder>
              </appender>
              <logger name="io.javalin" level="WARN"/>
              <logger name="org.eclipse.jetty" level="WARN"/>
              <root level="INFO"><appender-ref ref="OUT"/></root>
            </configuration>
            """);

    String first =
        firstLine(Map.of(LogFormat.ENV, "json"), List.of("-Dlogback.configurationFile=" + config));

    assertThat(first).startsWith("own INFO started policy=logs");
  }

  private String firstLine(Map<String, String> env, List<String> jvmFlags) throws Exception {
    Path policy = Files.writeString(dir.resolve("policy.yaml"), "name: logs\n");
    ProcessBuilder builder =
        TestGuards.process(
            jvmFlags,
            "--policy",
            policy.toString(),
            "--upstream",
            "http://127.0.0.1:9/mcp",
            "--port",
            "0",
            "--admin-port",
            "0",
            "--host",
            "127.0.0.1");
    builder.environment().putAll(env);
    Process guard = builder.start();
    try (BufferedReader out =
        new BufferedReader(new InputStreamReader(guard.getInputStream(), StandardCharsets.UTF_8))) {
      return CompletableFuture.supplyAsync(
              () -> {
                try {
                  return out.readLine();
                } catch (Exception e) {
                  return null;
                }
              })
          .get(60, TimeUnit.SECONDS);
    } finally {
      guard.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }
}
