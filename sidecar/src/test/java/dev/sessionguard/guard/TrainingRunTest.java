package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@code --training-run}: what the image build makes its class-data archive from. */
class TrainingRunTest {

  @Test
  void training_run_starts_a_guard_forwards_to_its_stub_and_exits_0() throws Exception {
    Process run = TestGuards.process(List.of(), TrainingRun.FLAG).start();
    CompletableFuture<String> output =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
              } catch (Exception e) {
                return e.toString();
              }
            });
    try {
      assertThat(run.waitFor(120, TimeUnit.SECONDS)).as("exited").isTrue();
      String log = output.get(30, TimeUnit.SECONDS);
      assertThat(run.exitValue()).as(log).isZero();
      assertThat(log)
          .contains("started policy=training")
          .contains("admitted session=")
          .contains("refused reason=parse_error")
          .contains("drain step=stopped")
          .contains("training run: ok");
    } finally {
      run.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }

  @Test
  void training_run_takes_no_other_options() throws Exception {
    Process run = TestGuards.process(List.of(), TrainingRun.FLAG, "--port", "0").start();
    String log = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);

    assertThat(run.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(run.exitValue()).isEqualTo(2);
    assertThat(log).contains("--training-run takes no other options").contains("usage:");
  }
}
