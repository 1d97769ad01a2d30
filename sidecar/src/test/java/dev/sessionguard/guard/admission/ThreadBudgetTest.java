package dev.sessionguard.guard.admission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.guard.config.GuardConfig.InFlight;
import org.junit.jupiter.api.Test;

class ThreadBudgetTest {

  @Test
  void caps_that_fit_the_threads_apply_as_the_policy_says() {
    InFlight caps = new InFlight(1000, 50, 1000, 5);
    ThreadBudget budget = new ThreadBudget(3936);
    assertThat(budget.requests(caps)).isEqualTo(1000);
    assertThat(budget.streams(caps)).isEqualTo(1000);
    assertThat(budget.limits(caps)).isFalse();
  }

  @Test
  void requests_get_the_threads_first_and_streams_what_is_left() {
    ThreadBudget budget = new ThreadBudget(3936);
    InFlight many = new InFlight(3000, 50, 5000, 5);
    assertThat(budget.requests(many)).isEqualTo(3000);
    assertThat(budget.streams(many)).isEqualTo(936);
    assertThat(budget.limits(many)).isTrue();

    InFlight tooMany = new InFlight(50_000, 50, 1000, 5);
    assertThat(budget.requests(tooMany)).isEqualTo(3936);
    assertThat(budget.streams(tooMany)).isZero();
  }

  @Test
  void virtual_threads_leave_the_caps_to_the_policy() {
    InFlight caps = new InFlight(50_000, 50, 50_000, 5);
    assertThat(ThreadBudget.UNLIMITED.requests(caps)).isEqualTo(50_000);
    assertThat(ThreadBudget.UNLIMITED.streams(caps)).isEqualTo(50_000);
    assertThat(ThreadBudget.UNLIMITED.limits(caps)).isFalse();
  }
}
