package dev.sessionguard.guard.proxy;

import dev.sessionguard.guard.admission.Refusal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one log line every refusal gets, {@code refused reason=… status=…}, whichever part of the
 * guard answers it (the MCP endpoint, the fast path's connection, Jetty's error handler).
 */
final class RefusalLog {
  // The endpoint's logger: log pipelines that select refusals by logger keep seeing them all.
  private static final Logger LOG = LoggerFactory.getLogger(McpEndpoint.class);

  private RefusalLog() {}

  static void refused(Refusal reason, int status) {
    LOG.info("refused reason={} status={}", reason.label(), status);
  }
}
