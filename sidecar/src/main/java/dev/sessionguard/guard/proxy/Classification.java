package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sessionguard.guard.metrics.GuardMetrics.Era;

/**
 * What the guard needs to know about one request on the MCP endpoint before deciding.
 *
 * @param era session era (protocol absent or up to 2025-11-25) or per-request era (2026-07-28+)
 * @param rpcMethod the JSON-RPC method of a POST body (null for GET, DELETE, responses, batches)
 * @param id the JSON-RPC id to echo in guard-made errors (null when absent)
 * @param sessionId the {@code Mcp-Session-Id} header, or null
 */
record Classification(Era era, String rpcMethod, JsonNode id, String sessionId) {

  /** The first protocol version of the per-request era. */
  static final String PER_REQUEST_ERA = "2026-07-28";

  /** Versions are dates (YYYY-MM-DD), so they order as strings. */
  static Era eraOf(String protocolVersion) {
    return protocolVersion != null && protocolVersion.trim().compareTo(PER_REQUEST_ERA) >= 0
        ? Era.PER_REQUEST
        : Era.SESSION;
  }

  /** A 2026-07-28 {@code subscriptions/listen}: a long-lived stream, held to the stream caps. */
  boolean isListen() {
    return era == Era.PER_REQUEST && "subscriptions/listen".equals(rpcMethod);
  }

  /**
   * A long-lived server-to-client stream, held to the stream caps: a 2026-07-28 listen, or a
   * session-era GET (the standalone SSE stream; GET means nothing else on the MCP endpoint).
   */
  boolean opensStream(String httpMethod) {
    return isListen() || (era == Era.SESSION && "GET".equals(httpMethod));
  }

  boolean isInitialize() {
    return era == Era.SESSION && "initialize".equals(rpcMethod);
  }

  /**
   * An {@code initialize} whatever version it names: the endpoint's, which counts what it makes.
   */
  boolean isInitializeOfEitherEra() {
    return "initialize".equals(rpcMethod);
  }

  /**
   * This request taken as a session's, whatever era its label names: one labelled 2026-07-28 on a
   * session the guard holds (see {@code McpEndpoint#onHeldSession}).
   */
  Classification asSessionEra() {
    return era == Era.SESSION ? this : new Classification(Era.SESSION, rpcMethod, id, sessionId);
  }
}
