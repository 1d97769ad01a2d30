package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.config.GuardConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
  @TempDir Path dir;

  @Test
  void an_invalid_policy_exits_non_zero_listing_every_problem() throws Exception {
    Path file = dir.resolve("bad.yaml");
    Files.writeString(
        file,
        "name: x\nsessions: {max: 0}\nrequests: {maxInFlight: 5, perClientInFlight: 9}\nretryAfter: soon\n");
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int code =
        Main.run(
            new String[] {"--policy", file.toString()},
            new PrintStream(err, true, StandardCharsets.UTF_8),
            (c, l, b) -> {
              throw new AssertionError("must not start");
            });

    assertThat(code).isEqualTo(1);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .contains("sessions.max")
        .contains("perClientInFlight")
        .contains("retryAfter");
  }

  @Test
  void flags_override_the_file() throws Exception {
    Path file = dir.resolve("ok.yaml");
    Files.writeString(file, "name: demo\n");
    AtomicReference<GuardConfig> started = new AtomicReference<>();

    int code =
        Main.run(
            new String[] {
              "--policy",
              file.toString(),
              "--upstream",
              "http://127.0.0.1:5555/x",
              "--port",
              "7001",
              "--admin-port",
              "7002"
            },
            System.err,
            (c, l, b) -> started.set(c));

    assertThat(code).isZero();
    assertThat(started.get().mcpUrl().toString()).isEqualTo("http://127.0.0.1:5555/x");
    assertThat(started.get().listen().port()).isEqualTo(7001);
    assertThat(started.get().listen().adminPort()).isEqualTo(7002);
    assertThat(started.get().policy().name()).isEqualTo("demo");
  }

  @Test
  void unknown_flags_exit_with_usage() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            new String[] {"--nope", "1"},
            new PrintStream(err, true, StandardCharsets.UTF_8),
            (c, l, b) -> {});
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("usage:");
  }

  /** What people type gets a message saying what is wrong with it, not another thing. */
  @Test
  void arguments_are_judged_as_typed() throws Exception {
    Path file = Files.writeString(dir.resolve("ok.yaml"), "name: demo\n");
    assertThat(run("policy.yaml")).contains("unexpected argument 'policy.yaml'");
    assertThat(run("--policy", file.toString(), "--policy", file.toString()))
        .contains("--policy is given more than once");
    assertThat(run("--policy", file.toString(), "--upstream", "https://mcp:443"))
        .contains("--upstream must be an http:// URL with a host");
    assertThat(run("--policy", file.toString(), "--upstream", "http://mcp:4483/mcp?x=1"))
        .contains("holds a query");
    assertThat(run("--policy", dir.resolve("missing.yaml").toString()))
        .contains("missing.yaml: no such file");

    AtomicReference<GuardConfig> started = new AtomicReference<>();
    int code =
        Main.run(
            new String[] {"--policy=" + file, "--upstream=http://mcp:/v1/mcp"},
            System.err,
            (c, l, b) -> started.set(c));
    assertThat(code).isZero();
    assertThat(started.get().mcpUrl()).hasToString("http://mcp:80/v1/mcp");
  }

  /** Main.run's error output for {@code args} (it must not start). */
  private static String run(String... args) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        Main.run(
            args,
            new PrintStream(err, true, StandardCharsets.UTF_8),
            (c, l, b) -> {
              throw new AssertionError("must not start");
            });
    assertThat(code).isPositive();
    return err.toString(StandardCharsets.UTF_8);
  }
}
