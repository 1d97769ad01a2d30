package dev.sessionguard.guard.proxy;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The head of a request a {@link FrontConnection} serves itself: an HTTP/1.1 POST of the plainest
 * shape, parsed strictly. Anything else is not this parser's to judge — another method or version,
 * a chunked or missing body length, two lengths, an {@code Expect}, an upgrade, a method override,
 * a target with characters outside RFC 3986, a header line that is folded, has bare LF, control
 * characters or bytes over 0x7F, no Host or two: for those {@link #parse} answers {@link
 * #NOT_MINE}, and Jetty's own parser reads the same bytes and answers as it always does. What is
 * accepted here is therefore a request every HTTP/1.1 parser frames the same way.
 *
 * <p>A client on a kept-alive connection sends nearly the same head every time: the same target and
 * headers, another Content-Length. {@link #again} takes a head whose bytes are the previous one's
 * but for the Content-Length's digits as that head again, without parsing it, and the {@link
 * Repeat} it shares carries what was built from it once (the upstream's head, {@link
 * Forwarder#head}).
 *
 * @param pathQuery the target as sent (origin form)
 * @param path the target's path, before any query
 * @param headers the headers but Content-Length, which is {@code length}
 * @param length the body's Content-Length (at least 0)
 * @param close whether the client asked to close the connection after the answer
 * @param size the head's size in bytes, up to and including the empty line
 * @param repeat what a repeat of this head shares with it; null for MORE, LONG and NOT_MINE
 */
record FrontHead(
    String pathQuery,
    String path,
    HttpFields headers,
    int length,
    boolean close,
    int size,
    Repeat repeat) {

  /** More bytes are needed to tell. */
  static final FrontHead MORE = new FrontHead("", "", HttpFields.EMPTY, 0, false, 0, null);

  /**
   * A plain request line, then header lines that do not end within the bytes allowed: too long for
   * this parser (and, if the allowance is past Jetty's limit, too long for Jetty too).
   */
  static final FrontHead LONG = new FrontHead("", "", HttpFields.EMPTY, 0, false, -2, null);

  /** Not a request this parser serves: Jetty's HTTP/1.1 handling takes it as it is. */
  static final FrontHead NOT_MINE = new FrontHead("", "", HttpFields.EMPTY, 0, false, -1, null);

  /**
   * A parsed head's bytes, where its Content-Length's digits are in them, and the upstream's head
   * made from it. One connection's: its heads are served one after the other.
   */
  static final class Repeat {
    private final byte[] head;
    private final int lengthAt;
    private final int lengthEnd;
    private boolean repeated;
    private UpstreamStart upstream;

    Repeat(byte[] head, int lengthAt, int lengthEnd) {
      this.head = head;
      this.lengthAt = lengthAt;
      this.lengthEnd = lengthEnd;
    }

    /** The upstream's request line and headers made for this head and {@code to}; or null. */
    byte[] upstreamStart(URI to) {
      UpstreamStart made = upstream;
      return made != null && made.to() == to ? made.bytes() : null;
    }

    /** Whether the head was seen again: what is made from it is then worth keeping. */
    boolean repeated() {
      return repeated;
    }

    void upstreamStart(URI to, byte[] bytes) {
      upstream = new UpstreamStart(to, bytes);
    }

    private record UpstreamStart(URI to, byte[] bytes) {}
  }

  /**
   * This head again, when {@code a[from..to)} starts with its bytes but for the Content-Length's
   * digits (1 to {@link HeadLines#MAX_DIGITS} of them, as {@link #parse} takes them): what {@link
   * #parse} would answer for those bytes, without parsing them. Null when they are another head, or
   * not yet whole.
   */
  FrontHead again(byte[] a, int from, int to, int maxHead) {
    byte[] was = repeat.head;
    int at = repeat.lengthAt;
    if (to - from < at || !Arrays.equals(a, from, from + at, was, 0, at)) {
      return null;
    }
    int i = from + at;
    int digitsEnd = Math.min(to, i + HeadLines.MAX_DIGITS);
    int n = 0;
    while (i < digitsEnd && a[i] >= '0' && a[i] <= '9') {
      n = n * 10 + (a[i++] - '0');
    }
    int tail = was.length - repeat.lengthEnd;
    int size = i - from + tail;
    if (i == from + at
        || size > maxHead
        || to - from < size
        || !Arrays.equals(a, i, i + tail, was, repeat.lengthEnd, was.length)) {
      return null;
    }
    repeat.repeated = true;
    return n == length && size == this.size
        ? this
        : new FrontHead(pathQuery, path, headers, n, close, size, repeat);
  }

  private static final byte[] METHOD = "POST ".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] VERSION = " HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII);

  // RFC 3986 pchar, '/' and '?' (unreserved, sub-delims, ':', '@'); '%' is checked on its own.
  private static final boolean[] TARGET = HeadLines.table("-._~!$&'()*+,;=:@/?%");
  // RFC 3986 reg-name (unreserved, sub-delims, pct-encoded).
  private static final boolean[] HOST = HeadLines.table("-._~!$&'()*+,;=%");

  /**
   * Parses the head that starts at {@code a[from]}, with bytes up to {@code a[to - 1]} available.
   *
   * @param maxHead the most bytes a head may take; a longer one is not this parser's
   * @return the head, {@link #MORE}, {@link #LONG} or {@link #NOT_MINE}
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
    Checks checks = new Checks();
    int end = HeadLines.parse(a, i, limit, checks);
    if (end == HeadLines.MORE) {
      return to - from >= maxHead ? LONG : MORE; // the request line was plain: only too long
    }
    if (end == HeadLines.NOT_MINE || checks.unusual || checks.hosts != 1 || checks.length < 0) {
      return NOT_MINE;
    }
    int query = pathQuery.indexOf('?');
    String path = query < 0 ? pathQuery : pathQuery.substring(0, query);
    Repeat repeat =
        new Repeat(
            Arrays.copyOfRange(a, from, end), checks.lengthAt - from, checks.lengthEnd - from);
    return new FrontHead(
        pathQuery,
        path,
        checks.fields.asImmutable(),
        checks.length,
        checks.close,
        end - from,
        repeat);
  }

  /**
   * The headers, and what the front connection needs to know of them. A header that makes the
   * request not this parser's is noted and the lines read on, so that a head too long is still
   * known as such ({@link #LONG}).
   */
  private static final class Checks implements HeadLines.Sink {
    final HttpFields.Mutable fields = HttpFields.build();
    int length = -1;
    int lengthAt;
    int lengthEnd;
    int hosts;
    boolean close;
    boolean unusual;

    @Override
    public boolean field(HttpHeader header, String name, String value, int valueAt) {
      if (header != null) {
        switch (header) {
          case CONTENT_LENGTH -> {
            unusual |= (length = HeadLines.length(length, value)) < 0;
            lengthAt = valueAt;
            lengthEnd = valueAt + value.length();
            return true; // the head's length, not one of its headers: it changes, they repeat
          }
          case HOST -> unusual |= ++hosts > 1 || !validHost(value);
          case CONNECTION -> close |= HeadLines.hasToken(value, "close");
          case TRANSFER_ENCODING, EXPECT, UPGRADE, HTTP2_SETTINGS -> unusual = true;
          default -> {}
        }
      } else if (name.equalsIgnoreCase("X-HTTP-Method-Override")) {
        unusual = true; // the guard strips it before Jetty's routing: there it is
      } else if (name.regionMatches(true, 0, "Mcp-", 0, 4)) {
        unusual |= fields.contains(name); // repeated: the endpoint refuses it
      }
      if (!unusual) {
        fields.add(new HttpField(header, name, value));
      }
      return true;
    }
  }

  /**
   * For any request whose head is whole in {@code a[from..to)}: the size of head and body, when the
   * body's size is declared by one Content-Length (no Transfer-Encoding, no Expect: the client does
   * not wait for a 100 first); otherwise -1. A request handed to Jetty whole is refused whole:
   * Jetty answering before its body arrived could close on the late body.
   */
  static int declaredEnd(byte[] a, int from, int to) {
    int line = from;
    while (line + 1 < to && !(a[line] == '\r' && a[line + 1] == '\n')) {
      line++; // past the request line, whatever its method
    }
    int[] length = {-1};
    int end =
        HeadLines.parse(
            a,
            line + 2,
            to,
            (header, name, value, at) -> {
              if (header == HttpHeader.TRANSFER_ENCODING || header == HttpHeader.EXPECT) {
                return false;
              }
              if (header == HttpHeader.CONTENT_LENGTH) {
                length[0] = HeadLines.length(length[0], value);
                return length[0] >= 0;
              }
              return true;
            });
    return end < 0 || length[0] < 0 ? -1 : end - from + length[0];
  }

  /** {@link #MORE}, unless the head already has all the bytes it may take. */
  private static FrontHead more(int to, int from, int maxHead) {
    return to - from >= maxHead ? NOT_MINE : MORE;
  }

  private static boolean hex(byte b) {
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
  }

  /**
   * A Host value of the plainest shape: a name or IPv4 address of RFC 3986 reg-name characters, or
   * a bracketed IPv6 address, then optionally a colon and a port. Anything else is Jetty's to
   * judge.
   */
  static boolean validHost(String v) {
    int n = v.length();
    int i = 0;
    if (n > 0 && v.charAt(0) == '[') {
      int close = v.indexOf(']');
      if (close < 2) {
        return false;
      }
      for (i = 1; i < close; i++) {
        char c = v.charAt(i);
        if (!(c == ':' || c == '.' || Character.digit(c, 16) >= 0)) {
          return false;
        }
      }
      i = close + 1;
    } else {
      while (i < n && v.charAt(i) != ':') {
        char c = v.charAt(i);
        if (c >= 128 || !HOST[c]) {
          return false;
        }
        i++;
      }
      if (i == 0) {
        return false;
      }
    }
    if (i == n) {
      return true;
    }
    if (v.charAt(i) != ':' || n - i < 2 || n - i > 6) {
      return false;
    }
    for (i++; i < n; i++) {
      if (v.charAt(i) < '0' || v.charAt(i) > '9') {
        return false;
      }
    }
    return true;
  }
}
