package dev.sessionguard.guard.proxy;

import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The header lines of an HTTP/1.1 head, parsed strictly: a token, a colon, optional white space, a
 * value of visible ASCII, spaces and tabs, CRLF; up to the empty line. A folded line, a bare LF,
 * white space before the colon, control characters or bytes over 0x7F make the head not this
 * parser's: its caller then leaves the bytes, untouched, to Jetty's parser.
 */
final class HeadLines {
  /** More bytes are needed to tell. */
  static final int MORE = -1;

  /** Not a head this parser takes. */
  static final int NOT_MINE = -2;

  /** Takes each header in turn; false makes the head not this parser's. */
  interface Sink {
    boolean field(HttpHeader header, String name, String value);
  }

  // RFC 9110 tchar.
  private static final boolean[] TOKEN = table("!#$%&'*+-.^_`|~");

  private HeadLines() {}

  /** Digits, letters and {@code extra}, as a table indexed by ASCII code. */
  static boolean[] table(String extra) {
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
   * Parses header lines from {@code a[i]}, with bytes up to {@code a[limit - 1]} available.
   *
   * @return the index just after the empty line that ends the head, {@link #MORE} or {@link
   *     #NOT_MINE}
   */
  static int parse(byte[] a, int i, int limit, Sink sink) {
    while (true) {
      if (i + 1 >= limit) {
        return MORE;
      }
      if (a[i] == '\r') {
        return a[i + 1] == '\n' ? i + 2 : NOT_MINE;
      }
      int name = i;
      while (i < limit && a[i] > 0 && TOKEN[a[i]]) {
        i++;
      }
      if (i >= limit) {
        return MORE;
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
        if (!valueByte(a[i])) {
          return NOT_MINE;
        }
        i++;
      }
      if (i + 1 >= limit) {
        return MORE;
      }
      if (a[i + 1] != '\n') {
        return NOT_MINE;
      }
      int valueEnd = i;
      while (valueEnd > value && (a[valueEnd - 1] == ' ' || a[valueEnd - 1] == '\t')) {
        valueEnd--;
      }
      i += 2;
      HttpHeader header = known(a, name, nameEnd - name);
      String n =
          header != null && spelled(a, name, header.asString())
              ? header.asString() // as nearly every client spells it: nothing to build
              : new String(a, name, nameEnd - name, StandardCharsets.ISO_8859_1);
      String v = new String(a, value, valueEnd - value, StandardCharsets.ISO_8859_1);
      if (!sink.field(header, n, v)) {
        return NOT_MINE;
      }
    }
  }

  /** The header Jetty knows by the name in {@code a[from..from + length)}, in any case; or null. */
  static HttpHeader known(byte[] a, int from, int length) {
    HttpHeader best = HttpHeader.CACHE.getBest(a, from, length); // the longest known prefix
    return best != null && best.asString().length() == length ? best : null;
  }

  /** Whether {@code a} holds {@code name} from {@code from} on, byte for byte. */
  private static boolean spelled(byte[] a, int from, String name) {
    for (int k = 0; k < name.length(); k++) {
      if (a[from + k] != name.charAt(k)) {
        return false;
      }
    }
    return true;
  }

  /**
   * Whether {@code b} may be in a header value or a reason phrase as this parser takes them:
   * visible ASCII, space or tab; not a control character, a bare LF or a byte over 0x7F (negative).
   */
  static boolean valueByte(byte b) {
    return b == '\t' || (b >= 0x20 && b != 0x7F);
  }

  /**
   * The body length a Content-Length gives when {@code seen} is the one an earlier field gave (-1:
   * none): -1 when this is a second one, or not {@link #digits}.
   */
  static int length(int seen, String value) {
    return seen >= 0 ? -1 : digits(value);
  }

  /** The value as a length, or -1 unless it is 1 to 9 digits. */
  static int digits(String v) {
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

  /** Whether the comma-separated value holds {@code token} (in any case). */
  static boolean hasToken(String v, String token) {
    for (String part : v.split(",")) {
      if (part.trim().toLowerCase(Locale.ROOT).equals(token)) {
        return true;
      }
    }
    return false;
  }
}
