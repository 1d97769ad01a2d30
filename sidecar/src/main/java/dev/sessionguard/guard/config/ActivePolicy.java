package dev.sessionguard.guard.config;

import java.util.concurrent.atomic.AtomicReference;

/**
 * The configuration in force. Every request reads it once, at its start, and decides with that one
 * object; live reload swaps in a new one atomically.
 */
public final class ActivePolicy {
  private final AtomicReference<GuardConfig> current;

  public ActivePolicy(GuardConfig initial) {
    this.current = new AtomicReference<>(initial);
  }

  public GuardConfig get() {
    return current.get();
  }

  /** Puts {@code next} in force for requests that start from now on; returns the previous one. */
  public GuardConfig swap(GuardConfig next) {
    return current.getAndSet(next);
  }
}
