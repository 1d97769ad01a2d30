package dev.sessionguard.guard.admission;

/** A session the registry ended, and why; the caller deletes it upstream. */
public record Ended(Session session, EndReason reason) {}
