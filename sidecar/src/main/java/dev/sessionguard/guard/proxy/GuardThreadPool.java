package dev.sessionguard.guard.proxy;

import org.eclipse.jetty.io.Connection;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * Jetty's thread pool, but a client connection freed by a fast-path answer goes on where the answer
 * was written. When a request completes on a thread other than the one that started handling it —
 * every fast-path request does, on the thread that read the upstream's answer — Jetty hands the
 * connection to the pool to read the client's next request: a thread wake-up per request, on the
 * pod's one CPU the largest cost after the HTTP work itself. The guard's handlers never block (the
 * fast path hands blocking work to threads of its own), so reading the next request in place is
 * safe; only that hand-off, made while {@link #succeedInPlace} runs, is taken here.
 */
public final class GuardThreadPool extends QueuedThreadPool {
  private static final ThreadLocal<Boolean> IN_PLACE = new ThreadLocal<>();

  public GuardThreadPool(int maxThreads, int minThreads, int idleTimeoutMillis) {
    super(maxThreads, minThreads, idleTimeoutMillis);
  }

  /** Completes {@code callback}; a connection it frees reads its next request on this thread. */
  static void succeedInPlace(Callback callback) {
    IN_PLACE.set(Boolean.TRUE);
    try {
      callback.succeeded();
    } finally {
      IN_PLACE.remove();
    }
  }

  @Override
  public void execute(Runnable job) {
    if (job instanceof Connection && IN_PLACE.get() != null) {
      IN_PLACE.remove(); // once: whatever the next request starts is dispatched as usual
      job.run();
      return;
    }
    super.execute(job);
  }
}
