package dev.sessionguard.guard.proxy;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * An HTTP/1.1 head being written straight into bytes: the fast path's request to the upstream and
 * its answer to the client, with a small body after it when it goes out in the same write. Values
 * are written as ISO-8859-1, as Jetty writes them; a char outside it becomes '?' (it cannot be sent
 * as is).
 */
final class HeadBytes {
  private byte[] bytes;
  private int size;

  /** A head expected to take about {@code expected} bytes (it grows past them if it must). */
  HeadBytes(int expected) {
    bytes = new byte[expected];
  }

  /** A header line. */
  HeadBytes field(String name, String value) {
    return ascii(name).ascii(": ").ascii(value == null ? "" : value).crlf();
  }

  /** Each char as a byte. */
  HeadBytes ascii(String s) {
    int n = s.length();
    room(n);
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      bytes[size++] = c <= 0xFF ? (byte) c : (byte) '?';
    }
    return this;
  }

  /** The bytes of {@code b}, as they are. */
  HeadBytes bytes(byte[] b) {
    room(b.length);
    System.arraycopy(b, 0, bytes, size, b.length);
    size += b.length;
    return this;
  }

  /** The bytes {@code b} has remaining, as they are: taken from it, as a write takes them. */
  HeadBytes bytes(ByteBuffer b) {
    int n = b.remaining();
    room(n);
    b.get(bytes, size, n);
    size += n;
    return this;
  }

  /** A non-negative number in decimal. */
  HeadBytes number(long value) {
    int digits = 1;
    for (long v = value; v >= 10; v /= 10) {
      digits++;
    }
    room(digits);
    long v = value;
    for (int i = size + digits - 1; i >= size; i--) {
      bytes[i] = (byte) ('0' + v % 10);
      v /= 10;
    }
    size += digits;
    return this;
  }

  HeadBytes crlf() {
    room(2);
    bytes[size++] = '\r';
    bytes[size++] = '\n';
    return this;
  }

  /** A copy of the bytes written so far. */
  byte[] copy() {
    return Arrays.copyOf(bytes, size);
  }

  /** The head written so far, for writing out (the bytes are not copied). */
  ByteBuffer buffer() {
    return ByteBuffer.wrap(bytes, 0, size);
  }

  private void room(int n) {
    if (size + n > bytes.length) {
      bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + n));
    }
  }
}
