package dev.sessionguard.guard.admission;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Every live session and reservation, per client; the one place admission is decided.
 *
 * <p>Counts are sizes of sets of live records, so a path that forgets nothing cannot drift: a
 * reservation is confirmed or cancelled exactly once, and a client disappears when it holds
 * nothing.
 */
public interface SessionRegistry {

  /**
   * Decides one new or adopted session atomically against both caps.
   *
   * @param client the client's name
   * @param caps the caps of the policy in force
   * @param exempt true for clients exempt from per-client caps (anonymous Exempt)
   * @param force admit even over a cap (DryRun), reporting what would have been refused
   */
  Admission admit(String client, SessionCaps caps, boolean exempt, boolean force);

  /**
   * Turns a reservation into a session with the upstream's id. If the id is already live (two
   * adoptions of one id raced), the reservation is released and the live session returned.
   *
   * @param started the request whose answer brought the id is a POST still being answered: the
   *     session is busy with it from this same step (as {@link #requestStarted}), so no eviction or
   *     reaping can end it while its answer streams; then {@link #requestFinished} must follow.
   *     Nothing is started when the id is live already as another client's session.
   * @param activity whether that POST counts as activity (a new session's creation always does)
   */
  Session confirm(Reservation reservation, String sessionId, boolean started, boolean activity);

  /** {@link #confirm(Reservation, String, boolean, boolean)} with nothing started. */
  default Session confirm(Reservation reservation, String sessionId) {
    return confirm(reservation, sessionId, false, false);
  }

  /** Releases a reservation that did not become a session; a second call does nothing. */
  void cancel(Reservation reservation);

  /** What the registry knows of {@code sessionId}. */
  Lookup lookup(String sessionId);

  /**
   * A POST on the live session {@code sessionId}, as the fast path takes it: the session, with the
   * POST started on it ({@link #requestStarted}), when {@code client} holds it (or {@code client}
   * is null: sessions are not bound to their clients). Found without waiting: the stage completes
   * where the answer arrives (in memory: at once, on the caller's thread; with Redis: on the thread
   * that reads its reply, one round trip), so it may be asked where Jetty reads requests, and what
   * runs on completion must not block. Empty, with nothing started, says only "ask {@link
   * #lookup}": the id is unknown or ended, the session is another client's, or the store could not
   * tell (unreachable, or failing); {@link #lookup} decides those, and counts a failing store as
   * down. Never completes exceptionally.
   */
  CompletionStage<Optional<Session>> startRequest(
      String sessionId, String client, boolean activity);

  /** Ends a live session (remembering its id); empty if it was not live. */
  Optional<Session> end(String sessionId, EndReason reason);

  /**
   * A POST on the session started; {@code activity} when the policy counts it. False, with nothing
   * started, when the session is no longer live as far as this guard knows (ended since it was
   * looked up: reaped, evicted, or ended by another request); then {@link #requestFinished} must
   * not follow.
   */
  boolean requestStarted(Session session, boolean activity);

  /** That POST (and its SSE response) finished. */
  void requestFinished(Session session, boolean activity);

  /**
   * {@link #requestFinished}, returning once every guard sharing the store would see it (with
   * Redis: after its reply, or the command timeout): for an answer whose client may at once ask
   * another guard for something that depends on the session being idle (an {@code initialize} that
   * evicts it, at the client's cap).
   */
  default void requestFinishedNow(Session session, boolean activity) {
    requestFinished(session, activity);
  }

  /**
   * Ends every session idle for {@code idle} and every one older than {@code lifetime} that is not
   * busy (or is older than {@code lifetime + hardBound}); returns them. Cost grows with the
   * sessions that expire, not with those that exist.
   *
   * @param remember keep their ids, so later requests with them get 404; false (DryRun) forgets
   *     them, so a client still using one re-adopts it
   */
  List<Ended> expire(Duration idle, Duration lifetime, Duration hardBound, boolean remember);

  /** {@link #expire(Duration, Duration, Duration, boolean)}, remembering the ids. */
  default List<Ended> expire(Duration idle, Duration lifetime, Duration hardBound) {
    return expire(idle, lifetime, hardBound, true);
  }

  /** Live sessions. */
  int active();

  /** Reservations not yet confirmed or cancelled. */
  int pending();

  /** Clients holding a session or reservation. */
  int clients();

  /** The clients holding the most sessions, most first. */
  List<Holder> topHolders(int limit);

  /** One client's holdings. */
  record Holder(String client, int sessions) {}
}
