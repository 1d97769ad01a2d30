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

  /** Reads the whole body, failing as soon as it passes {@code limit}. */
  static byte[] readAll(InputStream in, long limit) throws IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    byte[] chunk = new byte[8192];
    long total = 0;
    int n;
    while ((n = in.read(chunk)) != -1) {
      total += n;
      if (total > limit) {
        throw new TooLarge(limit);
      }
      buf.write(chunk, 0, n);
    }
    return buf.toByteArray();
  }
}
