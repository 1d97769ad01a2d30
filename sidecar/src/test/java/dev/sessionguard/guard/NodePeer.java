package dev.sessionguard.guard;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.policy.PolicyJson;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.awaitility.Awaitility;

/**
 * A node script from {@code sidecar/node} run as a child process; its stdout is JSON lines. With
 * {@code --stdin-lifeline} it dies with the JVM; {@link #close()} kills it.
 */
public final class NodePeer implements AutoCloseable {
  public static final Path DIR = Path.of("node").toAbsolutePath();
  public final List<JsonNode> lines = new CopyOnWriteArrayList<>();
  private final Process process;

  private NodePeer(Process process) {
    this.process = process;
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                  try {
                    lines.add(PolicyJson.json().readTree(line));
                  } catch (IOException notJson) {
                    // only JSON lines are events
                  }
                }
              } catch (IOException e) {
                // process ended
              }
            },
            "node-peer-stdout");
    reader.setDaemon(true);
    reader.start();
  }

  public static NodePeer start(String script, String... args) throws IOException {
    if (!Files.isDirectory(DIR.resolve("node_modules"))) {
      throw new IllegalStateException(
          "run `npm ci --prefix sidecar/node` (./mvnw verify does it) before these tests");
    }
    List<String> command = new ArrayList<>(List.of("node", DIR.resolve(script).toString()));
    command.addAll(List.of(args));
    ProcessBuilder pb =
        new ProcessBuilder(command)
            .directory(DIR.toFile())
            .redirectError(ProcessBuilder.Redirect.DISCARD);
    return new NodePeer(pb.start());
  }

  /** The first line matching, waiting up to {@code seconds}. */
  public JsonNode await(Predicate<JsonNode> match, long seconds) {
    Awaitility.await()
        .atMost(Duration.ofSeconds(seconds))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> find(match).isPresent() || !process.isAlive());
    return Awaitility.await()
        .atMost(Duration.ofSeconds(2)) // the reader may still be draining an exited peer
        .until(() -> find(match), Optional::isPresent)
        .orElseThrow();
  }

  public Optional<JsonNode> find(Predicate<JsonNode> match) {
    return lines.stream().filter(match).findFirst();
  }

  public static Predicate<JsonNode> event(String name) {
    return l -> name.equals(l.path("event").asText());
  }

  public int waitFor(long seconds) throws InterruptedException {
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      throw new AssertionError("peer still running after " + seconds + "s; lines: " + lines);
    }
    return process.exitValue();
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
