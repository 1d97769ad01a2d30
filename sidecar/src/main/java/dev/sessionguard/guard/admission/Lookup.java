package dev.sessionguard.guard.admission;

/** What the registry knows of a session id. */
public sealed interface Lookup {
  /** A live session. */
  record Known(Session session) implements Lookup {}

  /** A session the guard saw end (reaped, deleted, evicted): answer 404. */
  record Ended() implements Lookup {}

  /** Never seen (for example, the guard restarted): adoption decides. */
  record Unknown() implements Lookup {}
}
