package dev.sessionguard.guard.proxy;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.util.HostPort;

/**
 * The head of a request a {@link FrontConnection} serves itself: an HTTP/1.1 POST of the plainest
 * shape, parsed strictly. Anything else is not this parser's to judge — another method or version,
 * a chunked or missing body length, two lengths, an {@code Expect}, an upgrade, a method override,
 * a target with characters outside RFC 3986, a header line that is folded, has bare LF, control
 * characters or bytes over 0x7F, no Host or two: for those {@link #parse} answers {@link
 * #NOT_MINE}, and Jetty's own parser reads the same bytes and answers as it always does. What is
 * accepted here is therefore a request every HTTP/1.1 parser frames the same way.
 *
 * @param pathQuery the target as sent (origin form)
 * @param path the target's path, before any query
 * @param length the body's Content-Length (at least 0)
 * @param close whether the client asked to close the connection after the answer
 * @param size the head's size in bytes, up to and including the empty line
 */
record FrontHead(
    String pathQuery, String path, HttpFields headers, int length, boolean close, int size) {

  /** More bytes are needed to tell. */
  static final FrontHead MORE = new FrontHead("", "", HttpFields.EMPTY, 0, false, 0);

  /** Not a request this parser serves: Jetty's HTTP/1.1 handling takes it as it is. */
  static final FrontHead NOT_MINE = new FrontHead("", "", HttpFields.EMPTY, 0, false, -1);

  private static final byte[] METHOD = "POST ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] VERSION = " HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);

  // RFC 9110 tchar.
  private static final boolean[] TOKEN = table("!#$%&'*+-.^_`|~");
  // RFC 3986 pchar, '/' and '?' (unreserved, sub-delims, ':', '@'); '%' is checked on its own.
  private static final boolean[] TARGET = table("-._~!$&'()*+,;=:@/?%");

  private static boolean[] table(String extra) {
    boolean[] t = new boolean[128];
    for (int c = '0'; c <= '9'; c++) {
      t[c] = true;
    }
    for (int c = 'a'; c <= 'z'; c++) {
      t[c] = true;
      t[c - 'a' + 'A'] = true;
    }
    for (char c : extra.toCharArray()) {
      t[c] = true;
    }
    return t;
  }

  /**
   * Parses the head that starts at {@code a[from]}, with bytes up to {@code a[to - 1]} available.
   *
   * @param maxHead the most bytes a head may take; a longer one is not this parser's
   * @return the head, {@link #MORE} or {@link #NOT_MINE}
   */
  static FrontHead parse(byte[] a, int from, int to, int maxHead) {
    int limit = Math.min(to, from + maxHead);
    int i = from;
    for (byte b : METHOD) {
      if (i >= limit) {
        return more(to, from, maxHead);
      }
      if (a[i++] != b) {
        return NOT_MINE;
      }
    }
    int target = i;
    while (i < limit && a[i] != ' ') {
      int b = a[i];
      if (b <= 0 || !TARGET[b]) {
        return NOT_MINE;
      }
      if (b == '%' && (i + 2 >= limit || !hex(a[i + 1]) || !hex(a[i + 2]))) {
        return i + 2 >= limit ? more(to, from, maxHead) : NOT_MINE;
      }
      i++;
    }
    if (i >= limit) {
      return more(to, from, maxHead);
    }
    if (i == target || a[target] != '/') {
      return NOT_MINE;
    }
    String pathQuery = new String(a, target, i - target, StandardCharsets.ISO_8859_1);
    for (byte b : VERSION) {
      if (i >= limit) {
        return more(to, from, maxHead);
      }
      if (a[i++] != b) {
        return NOT_MINE;
      }
    }
    HttpFields.Mutable fields = HttpFields.build();
    int length = -1;
    int hosts = 0;
    boolean close = false;
    while (true) {
      if (i + 1 >= limit) {
        return more(to, from, maxHead);
      }
      if (a[i] == '\r') {
        if (a[i + 1] != '\n') {
          return NOT_MINE;
        }
        i += 2;
        break;
      }
      int name = i;
      while (i < limit && a[i] > 0 && TOKEN[a[i]]) {
        i++;
      }
      if (i >= limit) {
        return more(to, from, maxHead);
      }
      if (i == name || a[i] != ':') {
        return NOT_MINE; // a folded line, space before the colon, a bad name
      }
      int nameEnd = i++;
      while (i < limit && (a[i] == ' ' || a[i] == '\t')) {
        i++;
      }
      int value = i;
      while (i < limit && a[i] != '\r') {
        int b = a[i];
        if (b != '\t' && (b < 0x20 || b == 0x7F)) { // CTLs, bare LF, and (negative) bytes > 0x7F
          return NOT_MINE;
        }
        i++;
      }
      if (i + 1 >= limit) {
        return more(to, from, maxHead);
      }
      if (a[i + 1] != '\n') {
        return NOT_MINE;
      }
      int valueEnd = i;
      while (valueEnd > value && (a[valueEnd - 1] == ' ' || a[valueEnd - 1] == '\t')) {
        valueEnd--;
      }
      i += 2;
      String n = new String(a, name, nameEnd - name, StandardCharsets.ISO_8859_1);
      String v = new String(a, value, valueEnd - value, StandardCharsets.ISO_8859_1);
      HttpHeader header = HttpHeader.CACHE.get(n);
      if (header != null) {
        switch (header) {
          case CONTENT_LENGTH -> {
            if (length >= 0 || (length = digits(v)) < 0) {
              return NOT_MINE;
            }
          }
          case HOST -> {
            if (++hosts > 1 || !validHost(v)) {
              return NOT_MINE;
            }
          }
          case CONNECTION -> close |= hasToken(v, "close");
          case TRANSFER_ENCODING, EXPECT, UPGRADE, HTTP2_SETTINGS -> {
            return NOT_MINE;
          }
          default -> {}
        }
      } else if (n.equalsIgnoreCase("X-HTTP-Method-Override")) {
        return NOT_MINE; // the guard strips it before Jetty's routing: there it is
      }
      fields.add(new HttpField(header, n, v));
    }
    if (hosts != 1 || length < 0) {
      return NOT_MINE;
    }
    int query = pathQuery.indexOf('?');
    String path = query < 0 ? pathQuery : pathQuery.substring(0, query);
    return new FrontHead(pathQuery, path, fields.asImmutable(), length, close, i - from);
  }

  /** {@link #MORE}, unless the head already has all the bytes it may take. */
  private static FrontHead more(int to, int from, int maxHead) {
    return to - from >= maxHead ? NOT_MINE : MORE;
  }

  private static boolean hex(byte b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
  }

  /** The value as a length, or -1 unless it is 1 to 9 digits. */
  private static int digits(String v) {
    int n = v.length();
    if (n == 0 || n > 9) {
      return -1;
    }
    int value = 0;
    for (int k = 0; k < n; k++) {
      char c = v.charAt(k);
      if (c < '0' || c > '9') {
        return -1;
      }
      value = value * 10 + (c - '0');
    }
    return value;
  }

  private static boolean validHost(String v) {
    if (v.isEmpty()) {
      return false;
    }
    try {
      new HostPort(v);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  private static boolean hasToken(String v, String token) {
    for (String part : v.split(",")) {
      if (part.trim().toLowerCase(Locale.ROOT).equals(token)) {
        return true;
      }
    }
    return false;
  }
}
