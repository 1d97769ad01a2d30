package dev.sessionguard.guard.proxy;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The 2026-07-28 rule that a request's {@code Mcp-Method} and {@code Mcp-Name} headers say what its
 * body says, so that a proxy may route and count by headers alone. A mismatch, or a missing header,
 * is answered 400 with the spec's HeaderMismatch error (-32020). Notifications are exempt.
 */
public final class HeaderCheck {
  /** The body field {@code Mcp-Name} mirrors, per method. */
  private static final Map<String, String> NAME_SOURCE =
      Map.of(
          "tools/call", "name",
          "prompts/get", "name",
          "resources/read", "uri",
          "tasks/get", "taskId",
          "tasks/update", "taskId",
          "tasks/cancel", "taskId");

  private static final String SENTINEL_PREFIX = "=?base64?";
  private static final String SENTINEL_SUFFIX = "?=";

  private HeaderCheck() {}

  /**
   * What disagrees between the headers and the JSON-RPC message, or empty when they agree.
   *
   * @param message the parsed body
   * @param header a request header's first value, or null
   */
  public static Optional<String> mismatch(JsonNode message, Function<String, String> header) {
    if (message == null || !message.isObject() || !message.has("id")) {
      return Optional.empty(); // a notification or a response: no headers required
    }
    String method = message.path("method").asText(null);
    String methodHeader = decode(header.apply("Mcp-Method"));
    if (methodHeader == null) {
      return Optional.of("Mcp-Method header is required");
    }
    if (!methodHeader.equals(method)) {
      return Optional.of("Mcp-Method header does not match the body's method");
    }
    String field = NAME_SOURCE.get(method);
    if (field == null) {
      return Optional.empty();
    }
    String bodyName = message.path("params").path(field).asText(null);
    String nameHeader = decode(header.apply("Mcp-Name"));
    if (nameHeader == null) {
      return Optional.of("Mcp-Name header is required for " + method);
    }
    if (!nameHeader.equals(bodyName)) {
      return Optional.of("Mcp-Name header does not match the body's params." + field);
    }
    return Optional.empty();
  }

  /** A header value with its Base64 sentinel ({@code =?base64?…?=}) decoded; null stays null. */
  static String decode(String value) {
    if (value == null
        || !value.startsWith(SENTINEL_PREFIX)
        || !value.endsWith(SENTINEL_SUFFIX)
        || value.length() < SENTINEL_PREFIX.length() + SENTINEL_SUFFIX.length()) {
      return value;
    }
    String encoded =
        value.substring(SENTINEL_PREFIX.length(), value.length() - SENTINEL_SUFFIX.length());
    try {
      return new String(Base64.getDecoder().decode(encoded), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return value; // not valid Base64: compared as written, so it cannot match by accident
    }
  }
}
