package dev.sessionguard.guard.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

class ExternalTest {
  @Test
  void a_missing_program_skips_the_test_or_fails_it_when_externals_are_required() {
    var missing = assertThatThrownBy(() -> External.requireBinary("sessionguard-no-such-program"));
    if (External.required()) {
      missing.isInstanceOf(AssertionFailedError.class).hasMessageContaining("install it");
    } else {
      missing.isInstanceOf(TestAbortedException.class).hasMessageContaining("install it");
    }
  }

  @Test
  void a_program_on_path_is_found() {
    assertThat(External.onPath("sh")).isPresent();
  }
}
