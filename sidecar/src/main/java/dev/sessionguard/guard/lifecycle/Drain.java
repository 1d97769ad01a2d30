package dev.sessionguard.guard.lifecycle;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The guard's way out (SIGTERM): not ready at once; serve normally for {@code drainDelay} while
 * endpoints drop the pod; then refuse new work while work in progress gets up to {@code drain} to
 * finish; then stop. Sessions are not deleted upstream: the pod's server goes with the guard, and
 * clients re-initialize elsewhere.
 */
public final class Drain {
  private static final Logger LOG = LoggerFactory.getLogger(Drain.class);

  /** Where the guard is on its way out. */
  public enum Phase {
    SERVING,
    DELAYING,
    REFUSING,
    STOPPED
  }

  private volatile Phase phase = Phase.SERVING;
  // Standalone GET streams never end on their own: drain does not wait for them.
  private final AtomicInteger standaloneStreams = new AtomicInteger();

  public Phase phase() {
    return phase;
  }

  /** False from the moment draining starts: {@code /readyz} answers 503. */
  public boolean ready() {
    return phase == Phase.SERVING;
  }

  /** True once new work is refused with 503 ({@code draining}). */
  public boolean refusingNewWork() {
    return phase.compareTo(Phase.REFUSING) >= 0;
  }

  /** A standalone GET stream opened; run the returned handle when it ends. */
  public Runnable streamOpened() {
    standaloneStreams.incrementAndGet();
    return standaloneStreams::decrementAndGet;
  }

  /**
   * Drains, blocking until done.
   *
   * @param delay how long to serve normally (not ready)
   * @param drain how long work in progress may take after that
   * @param inProgress requests in progress, standalone GET streams included
   * @param stop stops the servers (and closes what they use)
   */
  public synchronized void run(
      Duration delay, Duration drain, IntSupplier inProgress, Runnable stop) {
    if (phase != Phase.SERVING) {
      return;
    }
    phase = Phase.DELAYING;
    LOG.info("drain step=not-ready serving-for={}", delay);
    sleep(delay.toMillis());
    phase = Phase.REFUSING;
    LOG.info(
        "drain step=refusing-new-work in-progress={} waiting-up-to={}", busy(inProgress), drain);
    long deadline = System.nanoTime() + drain.toNanos();
    while (busy(inProgress) > 0 && System.nanoTime() < deadline && sleep(50)) {
      // waiting for work in progress
    }
    int left = busy(inProgress);
    LOG.info(
        "drain step=stopping {} standalone-streams={}",
        left == 0 ? "work-finished" : "timed-out unfinished=" + left,
        standaloneStreams.get());
    stop.run();
    phase = Phase.STOPPED;
    LOG.info("drain step=stopped");
  }

  private int busy(IntSupplier inProgress) {
    return Math.max(0, inProgress.getAsInt() - standaloneStreams.get());
  }

  /** False when interrupted: then the drain stops waiting. */
  private static boolean sleep(long millis) {
    try {
      Thread.sleep(millis);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
