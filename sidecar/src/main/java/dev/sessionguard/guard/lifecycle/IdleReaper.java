package dev.sessionguard.guard.lifecycle;

import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.Ended;
import dev.sessionguard.guard.admission.SessionRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ends sessions idle past {@code sessions.idleTimeout} or older than {@code sessions.maxLifetime}.
 *
 * <p>Each tick asks the registry for what expired — a walk of its ordered indexes that stops at the
 * first session still in time — and hands each to the {@link SessionEnder}. A session past its
 * lifetime with a POST in flight is ended when that POST finishes, or at the hard bound (the
 * policy's drain timeout) past its lifetime, whichever comes first.
 *
 * <p>In DryRun nothing is ended: an expired session is taken out of the counts, as Enforce would,
 * but its stream stays open, no DELETE is sent and its id is not remembered, so a client that goes
 * on using it re-adopts it (DryRun admits every adoption).
 */
public final class IdleReaper implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(IdleReaper.class);

  /**
   * The reaping rules of the policy in force.
   *
   * @param dryRun the policy's mode is DryRun: what expired is forgotten (so its client re-adopts
   *     it if it comes back), not ended upstream
   */
  public record Rules(
      Duration idleTimeout, Duration maxLifetime, Duration hardBound, boolean dryRun) {
    /** Enforcing rules. */
    public Rules(Duration idleTimeout, Duration maxLifetime, Duration hardBound) {
      this(idleTimeout, maxLifetime, hardBound, false);
    }
  }

  private final SessionRegistry registry;
  private final Supplier<Rules> rules;
  private final SessionEnder ender;
  private final ScheduledExecutorService scheduler;
  private ScheduledFuture<?> task;

  public IdleReaper(
      SessionRegistry registry,
      Supplier<Rules> rules,
      SessionEnder ender,
      ScheduledExecutorService scheduler) {
    this.registry = registry;
    this.rules = rules;
    this.ender = ender;
    this.scheduler = scheduler;
  }

  /** Reaps every {@code tick}. */
  public synchronized void start(Duration tick) {
    if (task == null) {
      task =
          scheduler.scheduleWithFixedDelay(
              this::tickSafely, tick.toMillis(), tick.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** One pass: ends (in DryRun, forgets) what expired and returns it. */
  public List<Ended> reapNow() {
    Rules r = rules.get();
    List<Ended> ended =
        registry.expire(r.idleTimeout(), r.maxLifetime(), r.hardBound(), !r.dryRun());
    for (Ended e : ended) {
      try {
        if (r.dryRun() && e.reason() != EndReason.EVICTED) {
          // (an eviction Enforce made, whose admission's reply was lost, still owes its DELETE)
          ender.forgotten(e);
        } else {
          ender.end(e);
        }
      } catch (RuntimeException x) { // the rest of them are ended all the same
        LOG.error("ending {} failed", e.session(), x);
      }
    }
    return ended;
  }

  private void tickSafely() {
    try {
      reapNow();
    } catch (RuntimeException e) {
      // One bad pass must not stop reaping for good.
      LOG.error("reaper pass failed", e);
    }
  }

  @Override
  public synchronized void close() {
    if (task != null) {
      task.cancel(false);
      task = null;
    }
  }
}
