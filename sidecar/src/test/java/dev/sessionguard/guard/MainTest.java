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
            c -> {
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
            started::set);

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
            c -> {});
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("usage:");
  }
}
