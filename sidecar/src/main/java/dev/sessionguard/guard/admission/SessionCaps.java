package dev.sessionguard.guard.admission;

/**
 * The session caps one admission is decided under.
 *
 * @param max sessions in all
 * @param perClient sessions per client
 * @param evictIdlest at the per-client cap, end the client's idlest session instead of refusing
 */
public record SessionCaps(int max, int perClient, boolean evictIdlest) {
  /**
   * The same caps, refusing at the per-client cap: for an adoption, which the design answers with
   * 404 when there is no room (a stale id must not end one of the client's working sessions).
   */
  public SessionCaps refusing() {
    return evictIdlest ? new SessionCaps(max, perClient, false) : this;
  }
}
