package dev.sessionguard.guard.lifecycle;

import java.time.Duration;
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
  private static final Duration LONGEST = Duration.ofDays(36_500);

  /** Where the guard is on its way out. */
  public enum Phase {
    SERVING,
    DELAYING,
    REFUSING,
    STOPPED
  }

  private volatile Phase phase = Phase.SERVING;

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

  /**
   * Drains, blocking until done.
   *
   * @param delay how long to serve normally (not ready)
   * @param drain how long work in progress may take after that
   * @param inProgress requests in progress; streams (listen, standalone GET) are not among them:
   *     they never end on their own, so the drain does not wait for them
   * @param openStreams streams open, for the log
   * @param stop stops the servers (and closes what they use)
   */
  public synchronized void run(
      Duration delay,
      Duration drain,
      IntSupplier inProgress,
      IntSupplier openStreams,
      Runnable stop) {
    if (phase != Phase.SERVING) {
      return;
    }
    phase = Phase.DELAYING;
    LOG.info("drain step=not-ready serving-for={}", delay);
    sleep(delay.toMillis());
    phase = Phase.REFUSING;
    LOG.info(
        "drain step=refusing-new-work in-progress={} waiting-up-to={}",
        inProgress.getAsInt(),
        drain);
    // (compared as an elapsed time, and at most a century: a huge timeouts.drain neither
    // overflows into no wait at all nor throws)
    long start = System.nanoTime();
    long wait = drain.compareTo(LONGEST) > 0 ? LONGEST.toNanos() : drain.toNanos();
    while (inProgress.getAsInt() > 0 && System.nanoTime() - start < wait && sleep(50)) {
      // waiting for work in progress
    }
    int left = inProgress.getAsInt();
    LOG.info(
        "drain step=stopping {} streams={}",
        left == 0 ? "work-finished" : "timed-out unfinished=" + left,
        openStreams.getAsInt());
    stop.run();
    phase = Phase.STOPPED;
    LOG.info("drain step=stopped");
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
