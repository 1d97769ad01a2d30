package dev.sessionguard.guard.admission;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One live MCP session the guard admitted. Its mutable state is guarded by the registry's lock; the
 * proxy only reads {@link #id()} and {@link #client()}.
 */
public final class Session {
  // Compared by identity: after the session ended, a late stream is closed at once.
  private static final List<Runnable> ENDED = Collections.unmodifiableList(new ArrayList<>());

  private final String id;
  private final String client;
  // Epoch milliseconds rather than Instants: two fewer objects per session.
  private final long created;
  long lastActivity;
  int busy;
  // What closes its standalone GET streams (a client may hold more than one); guarded by this.
  // List.of() when none, so the common case costs no object of its own; ENDED once closed.
  private List<Runnable> streamClosers = List.of();
  private volatile String authorization;

  /**
   * A session the guard never recorded, only to be deleted upstream: one the upstream issued where
   * the guard admitted none, and its caps then refused.
   */
  public static Session unrecorded(String id, String client) {
    return new Session(id, client, System.currentTimeMillis());
  }

  Session(String id, String client, long createdMillis) {
    this.id = id;
    this.client = client;
    this.created = createdMillis;
    this.lastActivity = createdMillis;
  }

  public String id() {
    return id;
  }

  /** The client that opened (or adopted) it. */
  public String client() {
    return client;
  }

  /** Whether {@code caller} holds it; null stands for any client (sessions not bound to them). */
  boolean heldBy(String caller) {
    return caller == null || caller.equals(client);
  }

  public Instant created() {
    return Instant.ofEpochMilli(created);
  }

  long createdMillis() {
    return created;
  }

  /** When a request that counts as activity last started or finished. */
  public Instant lastActivity() {
    return Instant.ofEpochMilli(lastActivity);
  }

  /**
   * Registers what closes one of this session's standalone GET streams; ending the session calls
   * it. Returns a handle that unregisters it when the stream ends on its own. A stream registered
   * after the session ended is closed at once.
   */
  public Runnable onEnd(Runnable closer) {
    synchronized (this) {
      if (streamClosers != ENDED) {
        List<Runnable> next = new ArrayList<>(streamClosers);
        next.add(closer);
        streamClosers = List.copyOf(next);
        return () -> unregister(closer);
      }
    }
    closer.run();
    return () -> {};
  }

  private synchronized void unregister(Runnable closer) {
    if (streamClosers == ENDED) {
      return;
    }
    List<Runnable> next = new ArrayList<>(streamClosers);
    next.remove(closer);
    streamClosers = List.copyOf(next);
  }

  /**
   * Remembers the client's latest {@code Authorization} header, so a DELETE the guard sends for
   * this session (reaping, eviction) authenticates as the client did. Never logged.
   */
  public void rememberAuthorization(String value) {
    if (value != null) {
      this.authorization = value;
    }
  }

  /**
   * Takes {@code value} as the client's credentials unless the guard already holds some for this
   * session (e.g. a session another guard served, ended on behalf of the same client).
   */
  public void rememberAuthorizationIfNone(String value) {
    if (authorization == null) {
      rememberAuthorization(value);
    }
  }

  /** The client's latest {@code Authorization} header, or null. */
  public String authorization() {
    return authorization;
  }

  /** Closes the session's GET streams, if any are open; any registered later closes at once. */
  public void closeStream() {
    List<Runnable> closers;
    synchronized (this) {
      closers = streamClosers == ENDED ? List.of() : streamClosers;
      streamClosers = ENDED;
    }
    closers.forEach(Runnable::run);
  }

  @Override
  public String toString() {
    return "Session[" + SessionIds.shortHash(id) + "]";
  }
}
