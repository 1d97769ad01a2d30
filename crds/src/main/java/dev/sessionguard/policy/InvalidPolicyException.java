package dev.sessionguard.policy;

import java.util.List;

/** A policy that cannot be used, with every problem found in it. */
public class InvalidPolicyException extends Exception {
  private static final long serialVersionUID = 1L;

  private final List<String> problems;

  public InvalidPolicyException(List<String> problems) {
    super("invalid policy: " + String.join("; ", problems));
    this.problems = List.copyOf(problems);
  }

  /** Every problem, each naming its field. */
  public List<String> problems() {
    return problems;
  }
}
