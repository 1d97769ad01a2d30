package dev.sessionguard.bench;

import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.SessionCaps;
import java.lang.management.ManagementFactory;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * The reaper's cost with many sessions and few expiring: N sessions, 1% of them idle past the
 * timeout; reports the wall and CPU time of the pass that finds and ends them, and of an empty
 * pass. Usage: {@code ReaperCost N}.
 */
public final class ReaperCost {
  private ReaperCost() {}

  /** A clock the benchmark moves. */
  static final class SteppedClock extends Clock {
    Instant now = Instant.parse("2026-01-01T00:00:00Z");

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }

  public static void main(String[] args) {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
    int expiring = n / 100;
    var clock = new SteppedClock();
    var registry = new MemorySessionRegistry(clock);
    var caps = new SessionCaps(n, n, false);
    Duration idle = Duration.ofMinutes(5);
    for (int i = 0; i < n; i++) {
      if (i == expiring) {
        clock.now = clock.now.plus(Duration.ofMinutes(2));
      }
      var a = (Admission.Admitted) registry.admit("client-" + (i % 1000), caps, false, false);
      registry.confirm(a.reservation(), "session-" + i);
    }
    var threads = ManagementFactory.getThreadMXBean();
    clock.now = clock.now.plus(Duration.ofMinutes(4)); // only the first 1% are idle for 5 minutes

    for (int round = 0; round < 2; round++) {
      long cpu0 = threads.getCurrentThreadCpuTime();
      long t0 = System.nanoTime();
      int reaped = registry.expire(idle, Duration.ofHours(24), Duration.ofSeconds(20)).size();
      long wall = System.nanoTime() - t0;
      long cpu = threads.getCurrentThreadCpuTime() - cpu0;
      System.out.printf(
          "sessions=%d reaped=%d wall_ms=%.2f cpu_ms=%.2f remaining=%d%n",
          n, reaped, wall / 1e6, cpu / 1e6, registry.active());
    }
  }
}
