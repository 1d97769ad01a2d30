package dev.sessionguard.guard.config;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The configuration in force. Every request reads it once, at its start, and decides with that one
 * object; live reload swaps in a new one atomically.
 */
public final class ActivePolicy {
  private final GuardConfig started;
  private final AtomicReference<GuardConfig> current;

  public ActivePolicy(GuardConfig initial) {
    this.started = initial;
    this.current = new AtomicReference<>(initial);
  }

  /**
   * The settings of the policy in force that differ from those the guard started with and are read
   * only at start: they take effect when the guard restarts (the operator rolls the pods for them).
   * Empty when the guard runs all of the policy in force.
   */
  public List<String> restartPending() {
    return restartPending(started, current.get());
  }

  /** The settings read only at start that differ between {@code before} and {@code after}. */
  public static List<String> restartPending(GuardConfig before, GuardConfig after) {
    List<String> changed = new ArrayList<>();
    if (!before.listen().equals(after.listen())) {
      changed.add("guard.port, guard.adminPort or the listen address");
    }
    if (!before.connectTimeout().equals(after.connectTimeout())) {
      changed.add("timeouts.connect");
    }
    if (before.maxHeaderBytes() != after.maxHeaderBytes()) {
      changed.add("limits.maxHeaderBytes");
    }
    if (!before.store().equals(after.store())) {
      changed.add("store");
    }
    return changed;
  }

  /** The configuration the guard started with. */
  public GuardConfig started() {
    return started;
  }

  public GuardConfig get() {
    return current.get();
  }

  /** Puts {@code next} in force for requests that start from now on; returns the previous one. */
  public GuardConfig swap(GuardConfig next) {
    return current.getAndSet(next);
  }
}
