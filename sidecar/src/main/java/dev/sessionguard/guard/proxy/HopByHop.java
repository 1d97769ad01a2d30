package dev.sessionguard.guard.proxy;

import java.util.HashSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.eclipse.jetty.http.HttpField;
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

  private static final Set<String> TOWARDS_UPSTREAM =
      Stream.concat(ALWAYS.stream(), CLIENT_WRITES.stream())
          .collect(Collectors.toUnmodifiableSet());

  private HopByHop() {}

  /**
   * Lower-cased names to drop: the fixed list plus every token named in Connection. Nearly every
   * message names none beyond the fixed list (at most {@code keep-alive}), and then the fixed set
   * itself is returned: nothing is built per request.
   */
  static Set<String> namesToStrip(Iterable<String> connectionValues, boolean towardsUpstream) {
    Set<String> fixed = towardsUpstream ? TOWARDS_UPSTREAM : ALWAYS;
    Set<String> names = fixed;
    for (String value : connectionValues) {
      for (String token : value.split(",")) {
        String t = token.trim().toLowerCase(Locale.ROOT);
        if (!t.isEmpty() && !names.contains(t)) {
          if (names == fixed) {
            names = new HashSet<>(fixed);
          }
          names.add(t);
        }
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
      return names.contains(header.lowerCaseName());
    }
    return names != ALWAYS && names != TOWARDS_UPSTREAM && names.contains(field.getLowerCaseName());
  }
}
