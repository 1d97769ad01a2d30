package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicyStatus.Condition;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** Status conditions in the Kubernetes convention: True, False or Unknown, with a reason. */
final class Conditions {
  static final String ACCEPTED = "Accepted";
  static final String INJECTED = "Injected";
  static final String READY = "Ready";

  /** Present (True) only while the spec is refused: kstatus's sign that it will not progress. */
  static final String STALLED = "Stalled";

  static final String TRUE = "True";
  static final String FALSE = "False";
  static final String UNKNOWN = "Unknown";

  private Conditions() {}

  static Condition of(String type, String status, String reason, String message, Long generation) {
    var c = new Condition();
    c.type = type;
    c.status = status;
    c.reason = reason;
    c.message = message;
    c.observedGeneration = generation;
    return c;
  }

  /**
   * The next conditions, each with its {@code lastTransitionTime}: kept from {@code previous} while
   * the condition's status is unchanged (a new message or reason alone is not a transition), {@code
   * now} otherwise.
   */
  static List<Condition> merge(List<Condition> previous, List<Condition> next, Instant now) {
    var stamp = now.truncatedTo(ChronoUnit.SECONDS).toString();
    var out = new ArrayList<Condition>();
    for (var c : next) {
      var before = find(previous, c.type);
      c.lastTransitionTime =
          before != null
                  && Objects.equals(before.status, c.status)
                  && before.lastTransitionTime != null
              ? before.lastTransitionTime
              : stamp;
      out.add(c);
    }
    return out;
  }

  static Condition find(List<Condition> conditions, String type) {
    if (conditions == null) {
      return null;
    }
    return conditions.stream().filter(c -> type.equals(c.type)).findFirst().orElse(null);
  }

  /** Whether {@code next} says something {@code before} did not: status, reason or message. */
  static boolean changed(Condition before, Condition next) {
    return before == null
        || !Objects.equals(before.status, next.status)
        || !Objects.equals(before.reason, next.reason)
        || !Objects.equals(before.message, next.message);
  }
}
