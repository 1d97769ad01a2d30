package dev.sessionguard.guard.admission;

import java.time.Instant;

/**
 * One live MCP session the guard admitted. Its mutable state is guarded by the registry's lock; the
 * proxy only reads {@link #id()} and {@link #client()}.
 */
public final class Session {
  private final String id;
  private final String client;
  // Epoch milliseconds rather than Instants: two fewer objects per session.
  private final long created;
  long lastActivity;
  int busy;
  private volatile Runnable streamCloser;
  private volatile String authorization;

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
   * Registers what closes this session's standalone GET stream; the reaper calls it. Returns a
   * handle that unregisters it when the stream ends on its own.
   */
  public Runnable onEnd(Runnable closer) {
    this.streamCloser = closer;
    return () -> {
      if (this.streamCloser == closer) {
        this.streamCloser = null;
      }
    };
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

  /** The client's latest {@code Authorization} header, or null. */
  public String authorization() {
    return authorization;
  }

  /** Closes the session's GET stream, if one is open. */
  public void closeStream() {
    Runnable closer = streamCloser;
    streamCloser = null;
    if (closer != null) {
      closer.run();
    }
  }

  @Override
  public String toString() {
    return "Session[" + SessionIds.shortHash(id) + "]";
  }
}
