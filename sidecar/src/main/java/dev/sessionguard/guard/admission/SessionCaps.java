package dev.sessionguard.guard.admission;

/**
 * The session caps one admission is decided under.
 *
 * @param max sessions in all
 * @param perClient sessions per client
 * @param evictIdlest at the per-client cap, end the client's idlest session instead of refusing
 */
public record SessionCaps(int max, int perClient, boolean evictIdlest) {}
