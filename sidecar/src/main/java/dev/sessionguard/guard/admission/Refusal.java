package dev.sessionguard.guard.admission;

import java.util.Locale;

/** Why the guard refused (or, in DryRun, would have refused) a request. */
public enum Refusal {
  GLOBAL_SESSIONS,
  CLIENT_SESSIONS,
  GLOBAL_INFLIGHT,
  CLIENT_INFLIGHT,
  GLOBAL_STREAMS,
  CLIENT_STREAMS,
  INVALID_TOKEN,
  KEYS_UNAVAILABLE,
  NOT_OWNER,
  ORIGIN,
  TOO_LARGE,
  PARSE_ERROR,
  HEADER_MISMATCH,
  INVALID_REQUEST,
  DRAINING,
  ANONYMOUS,
  /** Request bodies being read and forwarded hold the memory they may ({@code BodyBudget}). */
  BODY_MEMORY;

  /** The value of the {@code reason} label on refusal metrics. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }
}
