package dev.sessionguard.guard.proxy;

import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

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

  private HopByHop() {}

  /** Lower-cased names to drop: the fixed list plus every token named in Connection. */
  static Set<String> namesToStrip(Iterable<String> connectionValues, boolean towardsUpstream) {
    Set<String> names = new TreeSet<>(ALWAYS);
    if (towardsUpstream) {
      names.addAll(CLIENT_WRITES);
    }
    for (String value : connectionValues) {
      for (String token : value.split(",")) {
        String t = token.trim().toLowerCase(Locale.ROOT);
        if (!t.isEmpty()) {
          names.add(t);
        }
      }
    }
    return names;
  }
}
