package dev.sessionguard.operator;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConditionsTest {
  static final Instant T0 = Instant.parse("2025-01-01T00:00:00.123Z");
  static final Instant T1 = Instant.parse("2025-01-01T01:00:00Z");

  @Test
  void a_new_condition_gets_the_current_time_in_whole_seconds() {
    var merged =
        Conditions.merge(
            List.of(), List.of(Conditions.of("Accepted", "True", "Valid", "ok", 1L)), T0);
    assertThat(merged.get(0).lastTransitionTime).isEqualTo("2025-01-01T00:00:00Z");
  }

  @Test
  void the_transition_time_moves_only_when_the_status_changes() {
    var first =
        Conditions.merge(
            List.of(), List.of(Conditions.of("Accepted", "False", "Invalid", "a", 1L)), T0);
    var newMessage =
        Conditions.merge(
            first, List.of(Conditions.of("Accepted", "False", "Conflict", "b", 2L)), T1);
    assertThat(newMessage.get(0).lastTransitionTime).isEqualTo("2025-01-01T00:00:00Z");
    var newStatus =
        Conditions.merge(
            newMessage, List.of(Conditions.of("Accepted", "True", "Valid", "c", 3L)), T1);
    assertThat(newStatus.get(0).lastTransitionTime).isEqualTo("2025-01-01T01:00:00Z");
  }

  @Test
  void a_change_of_reason_or_message_is_worth_announcing() {
    var before = Conditions.of("Accepted", "False", "Invalid", "a", 1L);
    assertThat(Conditions.changed(null, before)).isTrue();
    assertThat(Conditions.changed(before, Conditions.of("Accepted", "False", "Invalid", "a", 2L)))
        .isFalse();
    assertThat(Conditions.changed(before, Conditions.of("Accepted", "False", "Invalid", "b", 2L)))
        .isTrue();
  }
}
