package dev.sessionguard.guard.admission;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;

/**
 * The wall time the guard started at, moved on by the JVM's monotonic clock: idle and lifetime
 * deadlines measured with it neither fire early when the system clock steps forward (an NTP
 * correction, a VM resumed) nor stall when it steps back. For the in-memory store only: Redis
 * shares timestamps between guards, which need the wall clock.
 */
public final class MonotonicClock extends Clock {
  private final Instant start;
  private final long startNanos;
  private final ZoneId zone;

  private MonotonicClock(Instant start, long startNanos, ZoneId zone) {
    this.start = start;
    this.startNanos = startNanos;
    this.zone = zone;
  }

  /** Starts now, in UTC. */
  public static MonotonicClock systemUTC() {
    return new MonotonicClock(Instant.now(), System.nanoTime(), ZoneOffset.UTC);
  }

  @Override
  public ZoneId getZone() {
    return zone;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return new MonotonicClock(start, startNanos, zone);
  }

  @Override
  public long millis() {
    return start.toEpochMilli() + (System.nanoTime() - startNanos) / 1_000_000;
  }

  @Override
  public Instant instant() {
    return start.plusNanos(System.nanoTime() - startNanos);
  }
}
