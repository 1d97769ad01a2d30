package dev.sessionguard.bench;

import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.EndReason;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.SessionCaps;
import java.time.Clock;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The admission decision and its release, on a registry that already holds sessions: {@code
 * decideAndCancel} is the refusal-free path of one initialize whose upstream failed; {@code
 * fullSessionCycle} admits, records and ends a session.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class AdmissionBenchmark {
  private static final SessionCaps CAPS = new SessionCaps(1_000_000, 1_000_000, false);

  private MemorySessionRegistry registry;
  private final AtomicLong ids = new AtomicLong();

  @Setup
  public void fill() {
    registry = new MemorySessionRegistry(Clock.systemUTC());
    for (int i = 0; i < 10_000; i++) {
      var a = (Admission.Admitted) registry.admit("client-" + (i % 100), CAPS, false, false);
      registry.confirm(a.reservation(), "existing-" + i);
    }
  }

  @Benchmark
  public Object decideAndCancel() {
    var a = (Admission.Admitted) registry.admit("client-7", CAPS, false, false);
    registry.cancel(a.reservation());
    return a;
  }

  @Benchmark
  public Object fullSessionCycle() {
    String id = "s-" + ids.incrementAndGet();
    var a = (Admission.Admitted) registry.admit("client-7", CAPS, false, false);
    registry.confirm(a.reservation(), id);
    return registry.end(id, EndReason.CLIENT);
  }
}
