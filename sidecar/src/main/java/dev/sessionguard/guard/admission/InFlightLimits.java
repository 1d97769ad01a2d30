package dev.sessionguard.guard.admission;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Caps on work in progress: requests, or long-lived listen streams. Each permit is counted once
 * when granted and once when closed (closing twice does nothing), under one lock; a client's entry
 * disappears at zero.
 */
public final class InFlightLimits {
  private final Refusal globalRefusal;
  private final Refusal clientRefusal;
  private final ReentrantLock lock = new ReentrantLock();
  private final Map<String, Integer> perClient = new HashMap<>();
  private int total;

  private InFlightLimits(Refusal globalRefusal, Refusal clientRefusal) {
    this.globalRefusal = globalRefusal;
    this.clientRefusal = clientRefusal;
  }

  /** Limits on requests in progress. */
  public static InFlightLimits requests() {
    return new InFlightLimits(Refusal.GLOBAL_INFLIGHT, Refusal.CLIENT_INFLIGHT);
  }

  /** Limits on open listen streams. */
  public static InFlightLimits streams() {
    return new InFlightLimits(Refusal.GLOBAL_STREAMS, Refusal.CLIENT_STREAMS);
  }

  /** A granted unit of work; close it when the work ends. */
  public final class Permit implements AutoCloseable {
    private final String client;
    private boolean open = true;

    private Permit(String client) {
      this.client = client;
    }

    @Override
    public void close() {
      lock.lock();
      try {
        if (!open) {
          return;
        }
        open = false;
        total--;
        if (client != null) {
          perClient.computeIfPresent(client, (c, n) -> n == 1 ? null : n - 1);
        }
      } finally {
        lock.unlock();
      }
    }
  }

  /** The outcome of {@link #acquire}: a permit, or the refusal (and, when forced, both). */
  public record Grant(Permit permit, Refusal refusal) {
    public boolean granted() {
      return permit != null;
    }
  }

  /**
   * Takes a permit if both caps allow it.
   *
   * @param client the client, or null when exempt from the per-client cap
   * @param force grant even over a cap (DryRun), reporting what would have been refused
   */
  public Grant acquire(String client, int max, int maxPerClient, boolean force) {
    lock.lock();
    try {
      Refusal refusal = null;
      int held = client == null ? 0 : perClient.getOrDefault(client, 0);
      if (total >= max) {
        refusal = globalRefusal;
      } else if (client != null && held >= maxPerClient) {
        refusal = clientRefusal;
      }
      if (refusal != null && !force) {
        return new Grant(null, refusal);
      }
      total++;
      if (client != null) {
        perClient.merge(client, 1, Integer::sum);
      }
      return new Grant(new Permit(client), refusal);
    } finally {
      lock.unlock();
    }
  }

  /** Permits not yet closed. */
  public int total() {
    lock.lock();
    try {
      return total;
    } finally {
      lock.unlock();
    }
  }

  /** Clients holding a permit. */
  public int clients() {
    lock.lock();
    try {
      return perClient.size();
    } finally {
      lock.unlock();
    }
  }
}
