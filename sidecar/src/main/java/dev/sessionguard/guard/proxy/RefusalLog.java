package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.metrics.GuardMetrics;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
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

  /** Counts and logs a refusal and answers it with its error ({@link GuardError#forRefusal}). */
  static void refuse(
      GuardMetrics metrics,
      HttpServletResponse res,
      Refusal reason,
      JsonNode id,
      java.time.Duration retryAfter)
      throws IOException {
    GuardError error = GuardError.forRefusal(reason);
    refused(metrics, reason, error.status());
    error.write(res, id, reason, retryAfter);
  }

  static void refused(GuardMetrics metrics, Refusal reason, int status) {
    metrics.refused(reason);
    LOG.info("refused reason={} status={}", reason.label(), status);
  }
}
