package dev.sessionguard.guard.proxy;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
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

  /** The most digits a length may have ({@link #digits}): it then fits an int. */
  static final int MAX_DIGITS = 9;

  /**
   * Takes each header in turn, with where its value (white space around it left out) starts in the
   * parsed array; false makes the head not this parser's.
   */
  interface Sink {
    boolean field(HttpHeader header, String name, String value, int valueAt);
  }

  // RFC 9110 tchar.
  private static final boolean[] TOKEN = table("!#$%&'*+-.^_`|~");

  // Jetty's known headers by a case-blind hash of their names (open addressing, under a fifth
  // full):
  // the parser hashes a name while it checks its bytes, then compares with one entry or two.
  private static final int MASK = 511;
  private static final HttpHeader[] KNOWN = new HttpHeader[MASK + 1];
  private static final byte[][] SPELLED = new byte[HttpHeader.values().length][];
  private static final byte[][] LOWER = new byte[HttpHeader.values().length][];

  static {
    for (HttpHeader header : HttpHeader.values()) {
      String name = header.asString();
      SPELLED[header.ordinal()] = name.getBytes(StandardCharsets.ISO_8859_1);
      LOWER[header.ordinal()] = header.lowerCaseName().getBytes(StandardCharsets.ISO_8859_1);
      int hash = 0;
      for (byte b : SPELLED[header.ordinal()]) {
        hash = fold(hash, b);
      }
      int slot = hash & MASK;
      while (KNOWN[slot] != null && !KNOWN[slot].is(name)) {
        slot = (slot + 1) & MASK;
      }
      if (KNOWN[slot] == null) {
        KNOWN[slot] = header;
      }
    }
  }

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
      int hash = 0;
      byte b;
      while (i < limit && (b = a[i]) > 0 && TOKEN[b]) {
        hash = fold(hash, b);
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
      HttpHeader header = known(a, name, nameEnd, hash);
      String n =
          header != null
                  && Arrays.equals(a, name, nameEnd, SPELLED[header.ordinal()], 0, nameEnd - name)
              ? header.asString() // as nearly every client spells it: nothing to build
              : new String(a, name, nameEnd - name, StandardCharsets.ISO_8859_1);
      String v = new String(a, value, valueEnd - value, StandardCharsets.ISO_8859_1);
      if (!sink.field(header, n, v, value)) {
        return NOT_MINE;
      }
    }
  }

  /** The header Jetty knows by the name in {@code a[from..from + length)}, in any case; or null. */
  static HttpHeader known(byte[] a, int from, int length) {
    int hash = 0;
    for (int k = from; k < from + length; k++) {
      hash = fold(hash, a[k]);
    }
    return known(a, from, from + length, hash);
  }

  /** {@link #known(byte[], int, int)}, with the name's {@link #fold folded} hash already taken. */
  private static HttpHeader known(byte[] a, int from, int to, int hash) {
    for (int slot = hash & MASK; ; slot = (slot + 1) & MASK) {
      HttpHeader header = KNOWN[slot];
      if (header == null) {
        return null;
      }
      byte[] lower = LOWER[header.ordinal()];
      if (lower.length == to - from && sameIgnoringCase(a, from, lower)) {
        return header;
      }
    }
  }

  /** The next step of a name's hash, blind to ASCII case (it may collide; the lookup compares). */
  private static int fold(int hash, byte b) {
    return hash * 31 + (b | 0x20);
  }

  /** Whether {@code a} holds {@code lower} from {@code from} on, but for ASCII letters' case. */
  private static boolean sameIgnoringCase(byte[] a, int from, byte[] lower) {
    for (int k = 0; k < lower.length; k++) {
      int c = a[from + k];
      if (c >= 'A' && c <= 'Z') {
        c += 'a' - 'A';
      }
      if (c != lower[k]) {
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

  /** The value as a length, or -1 unless it is 1 to {@link #MAX_DIGITS} digits. */
  static int digits(String v) {
    int n = v.length();
    if (n == 0 || n > MAX_DIGITS) {
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

  /**
   * Whether the comma-separated value holds {@code token} (in any case), white space around the
   * elements ignored. Nothing is built: it runs on every Connection header.
   */
  static boolean hasToken(String v, String token) {
    int n = v.length();
    for (int start = 0; start <= n; ) {
      int comma = v.indexOf(',', start);
      int end = comma < 0 ? n : comma;
      while (start < end && v.charAt(start) <= ' ') {
        start++;
      }
      while (end > start && v.charAt(end - 1) <= ' ') {
        end--;
      }
      if (end - start == token.length() && v.regionMatches(true, start, token, 0, end - start)) {
        return true;
      }
      if (comma < 0) {
        return false;
      }
      start = comma + 1;
    }
    return false;
  }
}
