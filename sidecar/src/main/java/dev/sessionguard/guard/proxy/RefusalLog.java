package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.metrics.GuardMetrics;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts a refusal and writes the one log line every refusal gets, {@code refused reason=…
 * status=…}, whichever part of the guard answers it (the MCP endpoint, other paths, the fast path's
 * connection, Jetty's error handler): counted and logged together, they cannot drift.
 */
final class RefusalLog {
  // The endpoint's logger: log pipelines that select refusals by logger keep seeing them all.
  private static final Logger LOG = LoggerFactory.getLogger(McpEndpoint.class);

  private RefusalLog() {}

  static void refused(GuardMetrics metrics, Refusal reason, int status) {
    metrics.refused(reason);
    LOG.info("refused reason={} status={}", reason.label(), status);
  }
}
