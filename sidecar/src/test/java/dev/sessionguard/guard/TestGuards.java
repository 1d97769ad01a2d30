package dev.sessionguard.guard;

import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyValidator;
import java.io.File;
import java.io.IOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** Guards for tests: a policy written inline, every port 0, loopback only. */
public final class TestGuards {
  private TestGuards() {}

  /** A configuration from YAML spec lines (name and ports are filled in). */
  public static GuardConfig config(URI upstreamMcpUrl, String yaml) {
    try {
      return GuardConfig.of(policy(yaml), overrides(upstreamMcpUrl), Instant.now());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** A policy file from YAML spec lines (name and ports are filled in), e.g. for a reload. */
  public static PolicyFile policy(String yaml) {
    try {
      return PolicyFile.parse(
          "name: test\nguard: {port: 4484, adminPort: 9484}\n" + yaml,
          PolicyValidator.Mode.STANDALONE);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public static Guard start(URI upstreamMcpUrl, String yaml) {
    return Guard.start(config(upstreamMcpUrl, yaml), Clock.systemUTC());
  }

  /** A guard whose reaper reads {@code clock}. */
  public static Guard start(URI upstreamMcpUrl, String yaml, Clock clock) {
    return Guard.start(config(upstreamMcpUrl, yaml), clock);
  }

  /** The overrides {@link #config} uses, for reloads. */
  public static GuardConfig.Overrides overrides(URI upstreamMcpUrl) {
    return new GuardConfig.Overrides(upstreamMcpUrl, 0, 0, "127.0.0.1");
  }

  /** The guard's MCP endpoint: it serves the upstream's path. */
  public static URI mcp(Guard guard) {
    return URI.create("http://127.0.0.1:" + guard.port() + guard.policy().get().mcpPath());
  }

  public static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  /** An {@code initialize} POST, JSON-RPC id {@code id}, with extra headers (name, value, …). */
  public static HttpRequest initialize(Guard guard, Object id, String... headers) {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(mcp(guard))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"jsonrpc\":\"2.0\",\"id\":"
                        + (id instanceof String s ? "\"" + s + "\"" : id)
                        + ",\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\","
                        + "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}"));
    for (int i = 0; i + 1 < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return b.build();
  }

  public static HttpResponse<String> send(HttpRequest request) {
    try {
      return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Sends {@code request} (a whole HTTP/1.1 request, written in {@code charset}) on a fresh
   * connection and returns everything the guard answers until it closes, read in {@code charset}.
   */
  public static String exchange(Guard guard, String request, Charset charset) throws IOException {
    try (Socket s = new Socket("127.0.0.1", guard.port())) {
      s.setSoTimeout(10_000); // a hang fails here, with a cause, not at the build's timeout
      s.getOutputStream().write(request.getBytes(charset));
      s.getOutputStream().flush();
      return new String(s.getInputStream().readAllBytes(), charset);
    }
  }

  /** DELETE of a session through the guard. */
  public static HttpResponse<String> delete(Guard guard, String sessionId) {
    return send(
        HttpRequest.newBuilder(mcp(guard)).DELETE().header("Mcp-Session-Id", sessionId).build());
  }

  /**
   * The value of one Prometheus sample, e.g. {@code sessionguard_refusals_total{reason="origin"}}.
   */
  public static double metric(Guard guard, String sample) {
    for (String line : guard.metrics().scrape().split("\n")) {
      if (line.startsWith(sample + " ")) {
        return Double.parseDouble(line.substring(sample.length() + 1).trim());
      }
    }
    throw new AssertionError("no sample " + sample);
  }

  /**
   * A guard process as shipped: {@code java [jvmFlags] Main args} on this test's class path minus
   * the test classes (whose logback-test.xml would otherwise configure its logs).
   */
  public static ProcessBuilder process(List<String> jvmFlags, String... args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmFlags);
    command.add("-cp");
    command.add(
        Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
            .filter(entry -> !Path.of(entry).endsWith("test-classes"))
            .collect(Collectors.joining(File.pathSeparator)));
    command.add(Main.class.getName());
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().remove(LogFormat.ENV);
    return builder;
  }

  /** A child guard's exit code and everything it wrote. */
  public record Exited(int code, String output) {}

  /** Starts {@code builder} and waits up to two minutes for it to exit; kills it otherwise. */
  public static Exited runToExit(ProcessBuilder builder) throws Exception {
    Process run = builder.start();
    CompletableFuture<String> output =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
              } catch (IOException e) {
                return e.toString();
              }
            });
    try {
      if (!run.waitFor(120, TimeUnit.SECONDS)) {
        throw new AssertionError("still running after two minutes: " + builder.command());
      }
      return new Exited(run.exitValue(), output.get(30, TimeUnit.SECONDS));
    } finally {
      run.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }
}
