package dev.sessionguard.guard.identity;

import dev.sessionguard.guard.admission.Refusal;

/** The outcome of naming a request's client. */
public sealed interface Identification {
  /** The client is known (or anonymous and allowed in). */
  record Named(Client client) implements Identification {}

  /**
   * Refused before admission: {@code status} with a JSON-RPC error, counted under {@code reason}.
   */
  record Refused(int status, Refusal reason, String message) implements Identification {}
}
