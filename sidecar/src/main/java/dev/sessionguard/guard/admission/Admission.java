package dev.sessionguard.guard.admission;

import java.util.List;
import java.util.Optional;

/** The answer to one session admission: a reservation, or a refusal. */
public sealed interface Admission {

  /**
   * A slot is reserved; it becomes a session with {@link SessionRegistry#confirm} or is released
   * with {@link SessionRegistry#cancel}, exactly once.
   *
   * @param reservation the slot
   * @param wouldRefuse in DryRun (forced) admissions, what Enforce would have refused
   * @param evicted sessions of this client ended to make room (EvictIdlest); the caller deletes
   *     them upstream
   */
  record Admitted(Reservation reservation, Optional<Refusal> wouldRefuse, List<Session> evicted)
      implements Admission {}

  /** No room: nothing was reserved. */
  record Refused(Refusal reason) implements Admission {}
}
