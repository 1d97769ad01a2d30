package dev.sessionguard.guard.lifecycle;

import dev.sessionguard.guard.admission.Ended;
import dev.sessionguard.guard.admission.Session;
import dev.sessionguard.guard.admission.SessionIds;
import dev.sessionguard.guard.proxy.UpstreamClient;
import java.net.URI;
import java.time.Duration;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpMethod;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends, upstream, a session the guard decided to end (reaped, evicted, or issued to a client that
 * was gone): closes its GET stream and sends DELETE with its id, retried a bounded number of times.
 * The slot was already released by the registry; a DELETE that keeps failing, or that the upstream
 * refuses for its credentials (401, 403), is counted, never retried forever.
 */
public final class SessionEnder {
  private static final Logger LOG = LoggerFactory.getLogger(SessionEnder.class);

  /** What the ender reports, for metrics. */
  public interface Events {
    /** A session ended by the guard (already released). */
    void ended(Ended ended);

    /** Every DELETE attempt for it failed. */
    void deleteFailed(Session session);

    /** A session DryRun would have ended, forgotten instead ({@link #forgotten}). */
    default void forgotten(Ended ended) {}

    /** No events. */
    Events NONE =
        new Events() {
          @Override
          public void ended(Ended ended) {}

          @Override
          public void deleteFailed(Session session) {}
        };
  }

  private final UpstreamClient http;
  private final Supplier<URI> upstream;
  private final Supplier<Duration> timeout;
  private final ScheduledExecutorService scheduler;
  private final int attempts;
  private final Duration backoff;
  private final Events events;
  // A burst of expiring sessions must not become a burst of connections to the upstream.
  private final Semaphore slots;
  private final Queue<Runnable> waiting = new ConcurrentLinkedQueue<>();
  private volatile boolean closed;

  /**
   * @param upstream the MCP endpoint of the policy in force
   * @param timeout how long one DELETE may take
   * @param attempts DELETEs tried at most
   * @param backoff the wait before the second attempt, doubled for each later one
   * @param concurrency DELETEs in flight at most; the rest wait their turn
   */
  public SessionEnder(
      UpstreamClient http,
      Supplier<URI> upstream,
      Supplier<Duration> timeout,
      ScheduledExecutorService scheduler,
      int attempts,
      Duration backoff,
      int concurrency,
      Events events) {
    this.http = http;
    this.upstream = upstream;
    this.timeout = timeout;
    this.scheduler = scheduler;
    this.attempts = attempts;
    this.backoff = backoff;
    this.events = events;
    this.slots = new Semaphore(concurrency);
  }

  /**
   * Closes the session's stream and deletes it upstream; completes with true once the upstream
   * acknowledged (or no longer knew the session), false when every attempt failed or the upstream
   * refused the credentials.
   */
  public CompletableFuture<Boolean> end(Ended ended) {
    logEnded(ended);
    events.ended(ended);
    ended.session().closeStream();
    return delete(ended.session());
  }

  /**
   * Reports a session that expired in DryRun: the registry forgot it, nothing else happens to it
   * (its stream stays open, no DELETE is sent).
   */
  public void forgotten(Ended ended) {
    log("dryrun would-end", ended);
    events.forgotten(ended);
  }

  /**
   * The log line of a session's end, whoever ended it (the reaper, an eviction, its client, its
   * upstream): {@code ended session=… reason=… client=…}.
   */
  public static void logEnded(Ended ended) {
    log("ended", ended);
  }

  private static void log(String what, Ended ended) {
    LOG.info(
        "{} session={} reason={} client={}",
        what,
        SessionIds.shortHash(ended.session().id()),
        ended.reason().label(),
        SessionIds.shortHash(ended.session().client()));
  }

  /**
   * Deletes upstream a session the guard never recorded ({@link Session#unrecorded}): not counted
   * as ended, no stream to close; as {@link #end} otherwise.
   */
  public CompletableFuture<Boolean> discard(Session session) {
    LOG.info("deleting a session the guard did not admit session={}", session);
    return delete(session);
  }

  /** Queues the session's upstream DELETE; completes as {@link #end} says. */
  private CompletableFuture<Boolean> delete(Session session) {
    CompletableFuture<Boolean> done = new CompletableFuture<>();
    submit(() -> attempt(session, 1, done));
    return done;
  }

  /**
   * From now on no DELETE is sent: a stopping guard leaves its sessions to the upstream (and to the
   * guard that takes over), as DESIGN.md's drain says. Sessions ended later still close their
   * streams; their futures complete with false.
   */
  public void close() {
    closed = true;
  }

  /** True once {@link #close} was called: the guard is stopping. */
  public boolean stopping() {
    return closed;
  }

  private void submit(Runnable attempt) {
    waiting.add(attempt);
    drain();
  }

  private void drain() {
    while (!waiting.isEmpty()) {
      if (!slots.tryAcquire()) {
        return;
      }
      Runnable next = waiting.poll();
      if (next == null) {
        slots.release();
        continue;
      }
      next.run();
    }
  }

  private static boolean refusedCredentials(int status) {
    return status == 401 || status == 403;
  }

  /** An answer that says nothing about the session: too busy, or too slow, to act on it now. */
  private static boolean notNow(int status) {
    return status == 408 || status == 429 || status >= 500;
  }

  private void attempt(Session session, int attempt, CompletableFuture<Boolean> done) {
    if (closed) {
      slots.release();
      LOG.info("not deleted upstream: the guard is stopping session={}", session);
      done.complete(false);
      return;
    }
    try {
      send(session, attempt, done);
    } catch (RuntimeException e) {
      // Building or sending the DELETE failed before it was under way: its slot comes back (or
      // after a few such failures no DELETE would ever be sent again), and it counts as failed.
      slots.release();
      LOG.error("upstream DELETE could not be sent session={}", session, e);
      events.deleteFailed(session);
      done.complete(false);
    }
  }

  private void send(Session session, int attempt, CompletableFuture<Boolean> done) {
    Request request =
        http.newRequest(upstream.get())
            .method(HttpMethod.DELETE)
            .timeout(timeout.get().toMillis(), TimeUnit.MILLISECONDS)
            .headers(
                h -> {
                  h.put("Mcp-Session-Id", session.id());
                  if (session.authorization() != null) {
                    h.put("Authorization", session.authorization());
                  }
                });
    request.send( // the answer's body, if any, is discarded
        result -> {
          Throwable failure = result.getFailure();
          int status = result.getResponse().getStatus();
          slots.release();
          drain();
          if (failure == null && refusedCredentials(status)) {
            // The same credentials would be refused again: not retried, but the session may
            // live on upstream, so it counts as a failed DELETE.
            LOG.warn(
                "upstream refused DELETE status={} session={} credentials={}",
                status,
                session,
                session.authorization() == null ? "none" : "the client's latest");
            events.deleteFailed(session);
            done.complete(false);
          } else if (failure == null && !notNow(status)) {
            // 2xx: deleted. Another 4xx: the server no longer has it (or does not do DELETE).
            done.complete(true);
          } else if (attempt < attempts) {
            long wait = backoff.toMillis() << (attempt - 1);
            scheduler.schedule(
                () -> submit(() -> attempt(session, attempt + 1, done)),
                wait,
                TimeUnit.MILLISECONDS);
          } else {
            LOG.warn(
                "upstream DELETE failed after {} attempts session={} cause={}",
                attempts,
                session,
                failure != null ? failure.getClass().getSimpleName() : status);
            events.deleteFailed(session);
            done.complete(false);
          }
        });
  }
}
