package dev.sessionguard.guard.proxy;

import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;

/**
 * The head of an upstream's answer in its plainest shape, parsed strictly: {@code HTTP/1.1}, a
 * final status that has a body (2xx to 5xx, not 204 or 304), strict header lines ({@link
 * HeadLines}), one Content-Length and no Transfer-Encoding. Any other answer — an interim 1xx, a
 * chunked or close-delimited body, a head split across reads — is parsed by Jetty's parser from the
 * same bytes.
 *
 * @param length the body's Content-Length
 * @param keepAlive whether the connection may carry another request after this answer
 * @param size the head's size in bytes, up to and including the empty line
 */
record AnswerHead(int status, HttpFields.Mutable headers, int length, boolean keepAlive, int size) {

  /** Not an answer this parser takes (or not whole yet): Jetty's parser takes it. */
  static final AnswerHead NOT_MINE = new AnswerHead(0, HttpFields.build(), 0, false, -1);

  private static final byte[] VERSION =
      "HTTP/1.1 ".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  /** Parses the head that starts at {@code a[from]}, with bytes up to {@code a[to - 1]}. */
  static AnswerHead parse(byte[] a, int from, int to) {
    int i = from;
    if (to - i < VERSION.length + 5) {
      return NOT_MINE;
    }
    for (byte b : VERSION) {
      if (a[i++] != b) {
        return NOT_MINE;
      }
    }
    if (a[i] < '2' || a[i] > '5' || !digit(a[i + 1]) || !digit(a[i + 2])) {
      return NOT_MINE;
    }
    int status = (a[i] - '0') * 100 + (a[i + 1] - '0') * 10 + (a[i + 2] - '0');
    if (status == 204 || status == 304) {
      return NOT_MINE; // no body whatever the length says: the parser knows
    }
    i += 3;
    if (a[i] == ' ') { // a reason phrase, possibly empty
      i++;
      while (i < to && a[i] != '\r') {
        if (!HeadLines.valueByte(a[i])) {
          return NOT_MINE;
        }
        i++;
      }
    }
    if (i + 1 >= to || a[i] != '\r' || a[i + 1] != '\n') {
      return NOT_MINE;
    }
    Checks checks = new Checks();
    int end = HeadLines.parse(a, i + 2, to, checks);
    if (end < 0 || checks.length < 0) {
      return NOT_MINE;
    }
    return new AnswerHead(status, checks.fields, checks.length, !checks.close, end - from);
  }

  private static boolean digit(byte b) {
    return b >= '0' && b <= '9';
  }

  /** The headers, and the framing they give. */
  private static final class Checks implements HeadLines.Sink {
    final HttpFields.Mutable fields = HttpFields.build();
    int length = -1;
    boolean close;

    @Override
    public boolean field(HttpHeader header, String name, String value, int valueAt) {
      if (header == HttpHeader.CONTENT_LENGTH) {
        if ((length = HeadLines.length(length, value)) < 0) {
          return false;
        }
      } else if (header == HttpHeader.TRANSFER_ENCODING) {
        return false;
      } else if (header == HttpHeader.CONNECTION) {
        close |= HeadLines.hasToken(value, "close");
      }
      fields.add(new HttpField(header, name, value));
      return true;
    }
  }
}
