package dev.sessionguard.guard.proxy;

import java.util.EnumSet;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;

/** RFC 9110 §7.6.1 hop-by-hop headers, plus those the upstream client writes itself. */
final class HopByHop {
  private static final Set<String> ALWAYS =
      Set.of(
          "connection",
          "keep-alive",
          "proxy-connection",
          "proxy-authenticate",
          "proxy-authorization",
          "te",
          "trailer",
          "transfer-encoding",
          "upgrade");

  /** The upstream client frames the request and names the upstream host itself. */
  private static final Set<String> CLIENT_WRITES =
      Set.of("connection", "content-length", "expect", "host", "upgrade");

  /**
   * End-to-end headers the guard decides on. A client that names one in Connection would have the
   * upstream see another request than the guard judged (a session-era request labelled 2026-07-28
   * for the guard only, say): such a token is not honoured, the header goes on as the guard read
   * it.
   */
  private static final Set<String> GUARD_READS =
      Set.of(
          "mcp-protocol-version",
          "mcp-session-id",
          "mcp-method",
          "mcp-name",
          "authorization",
          "origin",
          "content-type");

  private static final Set<String> TOWARDS_UPSTREAM =
      Stream.concat(ALWAYS.stream(), CLIENT_WRITES.stream())
          .collect(Collectors.toUnmodifiableSet());

  // The same names as Jetty's headers, for the common case: a membership test is a bit test.
  private static final Set<HttpHeader> ALWAYS_HEADERS = headers(ALWAYS);
  private static final Set<HttpHeader> TOWARDS_UPSTREAM_HEADERS = headers(TOWARDS_UPSTREAM);

  private HopByHop() {}

  private static Set<HttpHeader> headers(Set<String> names) {
    Set<HttpHeader> headers = EnumSet.noneOf(HttpHeader.class);
    for (String name : names) {
      HttpHeader header = HttpHeader.CACHE.get(name);
      if (header == null || !header.lowerCaseName().equals(name)) {
        throw new IllegalStateException(name + " is not a header Jetty knows");
      }
      headers.add(header);
    }
    return headers;
  }

  /**
   * Lower-cased names to drop from a message with these {@code fields}: the fixed list plus every
   * token named in its Connection fields but, towards the upstream, those the guard reads ({@link
   * #GUARD_READS}). Nearly every message names none beyond the fixed list (at most {@code
   * keep-alive}), and then the fixed set itself is returned: nothing is built per request.
   */
  static Set<String> namesToStrip(HttpFields fields, boolean towardsUpstream) {
    Set<String> fixed = towardsUpstream ? TOWARDS_UPSTREAM : ALWAYS;
    Set<String> names = fixed;
    for (HttpField field : fields) {
      if (field.getHeader() != HttpHeader.CONNECTION) {
        continue;
      }
      String value = field.getValue();
      int n = value.length();
      for (int start = 0; start < n; ) {
        int comma = value.indexOf(',', start);
        int end = comma < 0 ? n : comma;
        // As String.trim; the whole value when it is one token (keep-alive): nothing is built.
        String t = value.substring(start, end).trim().toLowerCase(Locale.ROOT);
        if (!t.isEmpty() && !names.contains(t) && !(towardsUpstream && GUARD_READS.contains(t))) {
          if (names == fixed) {
            names = new HashSet<>(fixed);
          }
          names.add(t);
        }
        start = end + 1;
      }
    }
    return names;
  }

  /**
   * Whether {@code field} is among {@code names}, as {@link #namesToStrip} gives them. Each fixed
   * name is a header Jetty knows (its lower-cased name is kept): only a token named in Connection
   * makes another name's lower case worth computing.
   */
  static boolean named(HttpField field, Set<String> names) {
    HttpHeader header = field.getHeader();
    if (header != null) {
      if (names == ALWAYS) {
        return ALWAYS_HEADERS.contains(header);
      }
      if (names == TOWARDS_UPSTREAM) {
        return TOWARDS_UPSTREAM_HEADERS.contains(header);
      }
      return names.contains(header.lowerCaseName());
    }
    return names != ALWAYS && names != TOWARDS_UPSTREAM && names.contains(field.getLowerCaseName());
  }
}
