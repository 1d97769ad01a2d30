package dev.sessionguard.guard;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@code --training-run}: what the image build makes its class-data archive from. */
class TrainingRunTest {

  @Test
  void training_run_starts_a_guard_forwards_to_its_stub_and_exits_0() throws Exception {
    TestGuards.Exited run = TestGuards.runToExit(TestGuards.process(List.of(), TrainingRun.FLAG));

    assertThat(run.code()).as(run.output()).isZero();
    assertThat(run.output())
        .contains("started policy=training")
        .contains("admitted session=")
        .contains("refused reason=parse_error")
        .contains("drain step=stopped")
        .contains("training run: ok");
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
