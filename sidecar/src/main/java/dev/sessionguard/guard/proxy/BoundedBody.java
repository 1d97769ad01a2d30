package dev.sessionguard.guard.proxy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/** Request bodies read without trusting Content-Length or chunking to keep them small. */
final class BoundedBody {
  private BoundedBody() {}

  /** The body passed its limit. */
  static final class TooLarge extends IOException {
    private static final long serialVersionUID = 1L;

    TooLarge(long limit) {
      super("body exceeds " + limit + " bytes");
    }
  }

  /**
   * Reads the whole body, failing as soon as it passes {@code limit}, its memory taken from {@code
   * held} first: all of a declared {@code length} before reading (a body that cannot fit is refused
   * before any of it is read), else twice each chunk as it comes (the buffer grows by copying).
   *
   * @param length the declared Content-Length, or -1 (chunked, or none)
   * @throws BodyBudget.Exhausted when the budget has no room for it
   */
  static byte[] readAll(InputStream in, long length, long limit, BodyBudget.Held held)
      throws IOException {
    if (length > limit) {
      throw new TooLarge(limit);
    }
    if (length >= 0) {
      held.take(length);
      byte[] body = in.readNBytes((int) length);
      if (body.length < length) {
        throw new java.io.EOFException("body ended after " + body.length + " of " + length);
      }
      return body;
    }
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    byte[] chunk = new byte[8192];
    long total = 0;
    int n;
    while ((n = in.read(chunk)) != -1) {
      total += n;
      if (total > limit) {
        throw new TooLarge(limit);
      }
      held.take(2L * n);
      buf.write(chunk, 0, n);
    }
    return buf.toByteArray();
  }
}
