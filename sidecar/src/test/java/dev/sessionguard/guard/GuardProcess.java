package dev.sessionguard.guard;

import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A whole guard in a JVM of its own, started as {@code Main} with a policy file, as a pod runs it:
 * it can be sent signals (SIGKILL: a crash), and its log is kept for the test's report. It runs
 * from the test class path: the shaded jar is built after the tests.
 */
public final class GuardProcess implements AutoCloseable {
  private static final Pattern STARTED =
      Pattern.compile("listen=127\\.0\\.0\\.1:(\\d+) admin=(\\d+)");
  private static final Pattern GUARD_ID = Pattern.compile("session store: Redis .* guard=(\\S+)");

  private final String name;
  private final String path;
  private final Process process;
  private final List<String> log = new CopyOnWriteArrayList<>();
  private int port;
  private int adminPort;

  private GuardProcess(String name, String path, Process process) {
    this.name = name;
    this.path = path;
    this.process = process;
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                in.lines().forEach(log::add);
              } catch (IOException | RuntimeException e) {
                // the process ended
              }
            },
            "guard-log-" + name);
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * Starts {@code java … Main --policy FILE --upstream URL} on loopback, ports 0, with the pod's
   * env {@code POD_NAME=name} (no {@code POD_NAMESPACE}: keys are scoped by the policy name).
   */
  public static GuardProcess start(String name, Path policy, URI upstream) {
    ProcessBuilder builder =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m",
                "-XX:+UseSerialGC", // two cores shared by several JVMs
                "-cp",
                System.getProperty("java.class.path"),
                Main.class.getName(),
                "--policy",
                policy.toString(),
                "--upstream",
                upstream.toString(),
                "--port",
                "0",
                "--admin-port",
                "0",
                "--host",
                "127.0.0.1")
            .redirectErrorStream(true);
    builder.environment().put("POD_NAME", name);
    builder.environment().remove("POD_NAMESPACE");
    builder.environment().remove("SESSIONGUARD_REDIS_PASSWORD");
    builder.environment().remove("SESSIONGUARD_LOG_FORMAT");
    try {
      return new GuardProcess(name, upstream.getPath(), builder.start());
    } catch (IOException e) {
      throw new IllegalStateException("cannot start a guard process", e);
    }
  }

  /** Waits until it listens (a loaded machine starts JVMs slowly). */
  public GuardProcess awaitStarted() {
    Matcher m =
        await()
            .atMost(Duration.ofSeconds(60))
            .until(
                () -> {
                  if (!process.isAlive()) {
                    throw new IllegalStateException(name + " exited: " + log);
                  }
                  return log.stream()
                      .map(STARTED::matcher)
                      .filter(Matcher::find)
                      .findFirst()
                      .orElse(null);
                },
                Objects::nonNull);
    port = Integer.parseInt(m.group(1));
    adminPort = Integer.parseInt(m.group(2));
    return this;
  }

  public String name() {
    return name;
  }

  public long pid() {
    return process.pid();
  }

  /** Its MCP endpoint: the guard serves the upstream's path. */
  public URI mcp() {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  /** Its id in the Redis store (the pod name plus a random suffix), from its log. */
  public String guardId() {
    return log.stream()
        .map(GUARD_ID::matcher)
        .filter(Matcher::find)
        .map(m -> m.group(1))
        .findFirst()
        .orElseThrow(() -> new AssertionError(name + " logged no Redis guard id"));
  }

  /** The value of one sample on its {@code /metrics}, e.g. {@code sessionguard_store_available}. */
  public double metric(String sample) {
    String body =
        TestGuards.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/metrics"))
                    .build())
            .body();
    for (String line : body.split("\n")) {
      if (line.startsWith(sample + " ")) {
        return Double.parseDouble(line.substring(sample.length() + 1).trim());
      }
    }
    throw new AssertionError(name + " has no sample " + sample);
  }

  /** Its admin endpoint at {@code path}, e.g. {@code /readyz}. */
  public URI admin(String path) {
    return URI.create("http://127.0.0.1:" + adminPort + path);
  }

  /** SIGKILL, as the kernel's OOM killer or a node loss would end it: no shutdown hook runs. */
  public void kill() throws Exception {
    signal("KILL");
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      throw new AssertionError(name + " survived SIGKILL");
    }
  }

  /**
   * SIGTERM, as the kubelet sends it (Process.destroy() from a forked test JVM was not seen by the
   * child's shutdown hook; kill(1) is what a pod gets).
   */
  public void terminate() throws Exception {
    signal("TERM");
  }

  private void signal(String name) throws Exception {
    new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).start().waitFor();
  }

  /** Its exit code once it has exited within {@code timeout}, else null. */
  public Integer awaitExit(Duration timeout) throws InterruptedException {
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? process.exitValue() : null;
  }

  /** What it has logged so far, one line each. */
  public List<String> log() {
    return log;
  }

  /** True once it has logged a line containing {@code text}. */
  public boolean logged(String text) {
    return log.stream().anyMatch(l -> l.contains(text));
  }

  /** Its log, prefixed with its name, for a failing test's report. */
  public void printLog() {
    log.forEach(l -> System.out.println(name + "| " + l));
  }

  @Override
  public void close() {
    process.destroyForcibly();
    try {
      process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS); // gone before the next test
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
