package dev.sessionguard.guard.identity;

import dev.sessionguard.guard.admission.Refusal;

/** The outcome of naming a request's client. */
public sealed interface Identification {
  /** The client is known (or anonymous and allowed in). */
  record Named(Client client) implements Identification {}

  /**
   * Refused before admission: {@code status} with a JSON-RPC error, counted under {@code reason}.
   *
   * @param message why, for logs only (never a token)
   * @param challenge the {@code WWW-Authenticate} value to answer with, or null
   */
  record Refused(int status, Refusal reason, String message, String challenge)
      implements Identification {
    public Refused(int status, Refusal reason, String message) {
      this(status, reason, message, null);
    }
  }
}
