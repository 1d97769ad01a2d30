package dev.sessionguard.guard.admission;

import java.util.Locale;

/** Why a session ended. */
public enum EndReason {
  /** The client sent DELETE. */
  CLIENT,
  /** No counted activity for the idle timeout. */
  IDLE,
  /** Older than the maximum lifetime. */
  LIFETIME,
  /** The upstream no longer knows it (404), or issued it to a client that was gone. */
  UPSTREAM,
  /** Its client opened another session at its cap, with onClientCap EvictIdlest. */
  EVICTED;

  /** The value of the {@code reason} label on ended-session metrics. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
