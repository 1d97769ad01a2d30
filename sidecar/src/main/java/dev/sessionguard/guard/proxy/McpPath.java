package dev.sessionguard.guard.proxy;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Whether a request's path names the MCP endpoint. Not only the exact path: an upstream may read
 * {@code /mcp/}, {@code /MCP}, {@code /%6Dcp}, {@code //mcp}, {@code /a/../mcp} or {@code /mcp;x}
 * as its MCP endpoint too (many routers decode, fold case or ignore a trailing slash), and a path
 * the guard relayed as "another path" would reach it with no admission at all. So every spelling
 * that comes to the same path once decoded, normalized and case-folded is the MCP endpoint's, and
 * is admitted as such, and relayed as the MCP path (an upstream that reads the spelling otherwise
 * would answer 404, which ends the session named).
 */
public final class McpPath {
  private McpPath() {}

  /** The last MCP path seen and its canonical form (it changes only with a reload). */
  private record Known(String path, String canonical) {}

  private static volatile Known known = new Known("", "/");

  /** Whether {@code rawPath} (as sent, still percent-encoded) names {@code mcpPath}. */
  public static boolean names(String rawPath, String mcpPath) {
    if (rawPath.equals(mcpPath)) {
      return true;
    }
    Known k = known;
    if (!k.path().equals(mcpPath)) {
      k = new Known(mcpPath, canonical(mcpPath));
      known = k;
    }
    return canonical(rawPath).equals(k.canonical());
  }

  /** Decoded, without path parameters, empty or dot segments, lower case. */
  static String canonical(String path) {
    List<String> segments = new ArrayList<>();
    for (String segment : path.split("/", -1)) {
      int parameters = segment.indexOf(';');
      String name = decode(parameters < 0 ? segment : segment.substring(0, parameters));
      if (name.isEmpty() || name.equals(".")) {
        continue;
      }
      if (name.equals("..")) {
        if (!segments.isEmpty()) {
          segments.remove(segments.size() - 1);
        }
        continue;
      }
      segments.add(name.toLowerCase(Locale.ROOT));
    }
    return "/" + String.join("/", segments);
  }

  /** Percent-decoding, as UTF-8; a malformed escape is kept as it is. */
  private static String decode(String segment) {
    if (segment.indexOf('%') < 0) {
      return segment;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(segment.length());
    for (int i = 0; i < segment.length(); i++) {
      char c = segment.charAt(i);
      if (c == '%' && i + 2 < segment.length()) {
        int hi = Character.digit(segment.charAt(i + 1), 16);
        int lo = Character.digit(segment.charAt(i + 2), 16);
        if (hi >= 0 && lo >= 0) {
          out.write(hi * 16 + lo);
          i += 2;
          continue;
        }
      }
      byte[] bytes = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
      out.write(bytes, 0, bytes.length);
    }
    return out.toString(StandardCharsets.UTF_8);
  }
}
