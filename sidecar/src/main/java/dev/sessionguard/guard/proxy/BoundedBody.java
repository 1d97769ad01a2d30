package dev.sessionguard.guard.proxy;

import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
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

  /** Counts bytes passing through and fails past {@code limit}: for bodies that are streamed. */
  static InputStream limited(InputStream in, long limit) {
    return new FilterInputStream(in) {
      private long seen;

      @Override
      public int read() throws IOException {
        int b = super.read();
        if (b != -1 && ++seen > limit) {
          throw new TooLarge(limit);
        }
        return b;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        int n = super.read(b, off, len);
        if (n > 0 && (seen += n) > limit) {
          throw new TooLarge(limit);
        }
        return n;
      }
    };
  }
}
