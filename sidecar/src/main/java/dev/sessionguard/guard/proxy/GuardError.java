package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.policy.PolicyJson;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The answers the guard makes itself: an HTTP status and a JSON-RPC error. Codes are the spec's
 * where one fits ({@code -32700}); the guard's own lie outside the range the spec reserves
 * (-32768…-32000). They never reveal counts or other clients. The README lists them.
 */
public enum GuardError {
  SESSION_CAP(503, -31001, "The server has no room for another session; retry later"),
  CLIENT_SESSION_CAP(429, -31002, "This client holds as many sessions as it may; retry later"),
  INFLIGHT_CAP(503, -31003, "The server is busy; retry later"),
  CLIENT_INFLIGHT_CAP(429, -31004, "This client has as many requests in progress as it may"),
  SESSION_NOT_FOUND(404, -31005, "Session not found; initialize a new session"),
  ORIGIN_NOT_ALLOWED(403, -31006, "Origin not allowed"),
  BODY_TOO_LARGE(413, -31007, "Request body too large"),
  HEADERS_TOO_LARGE(431, -31007, "Request headers too large"),
  ANONYMOUS_REJECTED(401, -31008, "This server requires a client name"),
  INVALID_SESSION_ID(400, -31009, "Mcp-Session-Id must be visible ASCII (0x21-0x7E)"),
  UPSTREAM_FAILED(502, -31010, "The MCP server could not be reached or answered badly"),
  UPSTREAM_TIMEOUT(504, -31011, "The MCP server did not answer in time"),
  INVALID_TOKEN(401, -31012, "The bearer token is not valid"),
  KEYS_UNAVAILABLE(503, -31015, "Tokens cannot be checked right now; retry later"),
  STREAM_CAP(503, -31013, "The server has no room for another stream; retry later"),
  CLIENT_STREAM_CAP(429, -31014, "This client holds as many streams as it may; retry later"),
  HEADER_MISMATCH(400, -32020, "Bad Request: the request headers and body disagree"),
  INVALID_REQUEST(400, -32600, "Invalid Request"),
  DRAINING(503, -31020, "This server is shutting down; retry to reach another"),
  BODY_MEMORY(503, -31016, "The server is holding as many request bodies as it may; retry later"),
  PARSE_ERROR(400, -32700, "Parse error");

  final int status;
  final int code;
  final String message;

  GuardError(int status, int code, String message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  public int status() {
    return status;
  }

  public int code() {
    return code;
  }

  /** The error a cap refusal answers with. */
  static GuardError forRefusal(Refusal refusal) {
    return switch (refusal) {
      case GLOBAL_SESSIONS -> SESSION_CAP;
      case CLIENT_SESSIONS -> CLIENT_SESSION_CAP;
      case GLOBAL_INFLIGHT -> INFLIGHT_CAP;
      case CLIENT_INFLIGHT -> CLIENT_INFLIGHT_CAP;
      case GLOBAL_STREAMS -> STREAM_CAP;
      case CLIENT_STREAMS -> CLIENT_STREAM_CAP;
      case INVALID_TOKEN -> INVALID_TOKEN;
      case KEYS_UNAVAILABLE -> KEYS_UNAVAILABLE;
      case NOT_OWNER -> SESSION_NOT_FOUND; // a session's existence is not revealed
      case HEADER_MISMATCH -> HEADER_MISMATCH;
      case INVALID_REQUEST -> INVALID_REQUEST;
      case ORIGIN -> ORIGIN_NOT_ALLOWED;
      case TOO_LARGE -> BODY_TOO_LARGE;
      case PARSE_ERROR -> PARSE_ERROR;
      case ANONYMOUS -> ANONYMOUS_REJECTED;
      case DRAINING -> DRAINING;
      case BODY_MEMORY -> BODY_MEMORY;
      default -> throw new IllegalArgumentException("no answer for " + refusal);
    };
  }

  /**
   * The JSON-RPC error body.
   *
   * @param id the request's id to echo, or null
   * @param reason the refusal reason for {@code error.data.reason}, or null
   */
  public byte[] body(JsonNode id, Refusal reason) {
    return body(id, reason, null);
  }

  /**
   * The JSON-RPC error body; {@code detail} (or null) goes to {@code error.data.mismatch} for
   * {@link #HEADER_MISMATCH} (the spec's name), to {@code error.data.detail} for the others.
   */
  byte[] body(JsonNode id, Refusal reason, String detail) {
    ObjectNode root = PolicyJson.json().createObjectNode();
    root.put("jsonrpc", "2.0");
    root.set("id", id == null ? root.nullNode() : id);
    ObjectNode error = root.putObject("error");
    error.put("code", code);
    error.put("message", message);
    if (reason != null || detail != null) {
      ObjectNode data = error.putObject("data");
      if (reason != null) {
        data.put("reason", reason.label());
      }
      if (detail != null) {
        data.put(this == HEADER_MISMATCH ? "mismatch" : "detail", detail);
      }
    }
    return root.toString().getBytes(StandardCharsets.UTF_8);
  }

  /** Writes this answer; {@code retryAfter} is set for refusals a client may retry. */
  void write(HttpServletResponse res, JsonNode id, Refusal reason, Duration retryAfter)
      throws IOException {
    write(res, id, reason, retryAfter, null);
  }

  void write(
      HttpServletResponse res, JsonNode id, Refusal reason, Duration retryAfter, String detail)
      throws IOException {
    byte[] bytes = body(id, reason, detail);
    res.setStatus(status);
    res.setContentType("application/json");
    if (retryAfter != null) {
      res.setHeader("Retry-After", Long.toString(Math.max(1, retryAfter.toSeconds())));
    }
    res.setContentLength(bytes.length);
    res.getOutputStream().write(bytes);
  }
}
