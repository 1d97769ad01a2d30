package dev.sessionguard.bench;

import dev.sessionguard.guard.admission.Admission;
import dev.sessionguard.guard.admission.MemorySessionRegistry;
import dev.sessionguard.guard.admission.SessionCaps;
import java.lang.management.ManagementFactory;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * Heap per tracked session, indexes included, beyond the session id string: fills a registry with N
 * sessions (ids are UUID strings, as the TypeScript SDK issues them; 1,000 clients) and compares
 * the heap after full GCs. Usage: {@code SessionFootprint N...}.
 */
public final class SessionFootprint {
  private SessionFootprint() {}

  public static void main(String[] args) {
    for (String arg : args) {
      int n = Integer.parseInt(arg);
      List<String> ids = new ArrayList<>(n);
      for (int i = 0; i < n; i++) {
        ids.add(UUID.randomUUID().toString());
      }
      long idsOnly = usedAfterGc();
      var registry = new MemorySessionRegistry(Clock.systemUTC());
      var caps = new SessionCaps(n, n, false);
      for (int i = 0; i < n; i++) {
        var a = (Admission.Admitted) registry.admit("client-" + (i % 1000), caps, false, false);
        registry.confirm(a.reservation(), ids.get(i));
      }
      long withRegistry = usedAfterGc();
      double perSession = (withRegistry - idsOnly) / (double) n;
      System.out.printf(
          "sessions=%d active=%d bytes_per_session_beyond_id=%.1f heap_used_mb=%.1f%n",
          n, registry.active(), perSession, withRegistry / 1048576.0);
      ids.clear();
    }
  }

  private static long usedAfterGc() {
    for (int i = 0; i < 4; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }
}
