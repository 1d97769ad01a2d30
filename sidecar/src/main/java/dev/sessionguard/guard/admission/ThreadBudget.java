package dev.sessionguard.guard.admission;

import dev.sessionguard.guard.config.GuardConfig.InFlight;

/**
 * What the guard's threads can hold, whatever the policy says. Without virtual threads (Java 17)
 * each request in progress and each open stream holds a pool thread until it ends: requests get the
 * threads first (they end soon), streams what is left (they may never end), so a flood of streams
 * can neither exhaust the pool nor starve requests.
 *
 * @param threads pool threads for requests and streams together
 */
public record ThreadBudget(int threads) {
  /** Virtual threads: an open stream or a waiting request holds no platform thread. */
  public static final ThreadBudget UNLIMITED = new ThreadBudget(Integer.MAX_VALUE);

  /** The in-flight cap in force: the policy's, or fewer when the threads cannot hold it. */
  public int requests(InFlight caps) {
    return Math.min(caps.max(), threads);
  }

  /** The stream cap in force: the policy's, or what the threads hold beyond the requests. */
  public int streams(InFlight caps) {
    return Math.min(caps.maxStreams(), Math.max(0, threads - requests(caps)));
  }

  /** True when the policy's caps are more than the threads hold. */
  public boolean limits(InFlight caps) {
    return requests(caps) < caps.max() || streams(caps) < caps.maxStreams();
  }
}
