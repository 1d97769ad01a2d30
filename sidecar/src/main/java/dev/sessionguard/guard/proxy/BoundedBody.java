package dev.sessionguard.guard.proxy;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

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

  /** Bodies are read into arrays of this size, each taken from the budget as it is made. */
  static final int CHUNK = 16 * 1024;

  /**
   * Reads the whole body, failing as soon as it passes {@code limit}, its memory taken from {@code
   * held} as it arrives: a client that declares a large body and sends it slowly holds only what it
   * has sent. The chunks read are then joined into one array, taken too, and given back: what a
   * body holds at its peak (twice its size) is what the budget counts.
   *
   * @param length the declared Content-Length, or -1 (chunked, or none)
   * @throws TooLarge over {@code limit}, or larger than the whole budget could ever hold
   * @throws BodyBudget.Exhausted when the budget has no room for it now
   */
  static byte[] readAll(InputStream in, long length, long limit, BodyBudget.Held held)
      throws IOException {
    long most = Math.min(limit, held.capacity() / 2);
    if (length > most) {
      throw new TooLarge(most);
    }
    int first = length < 0 ? in.read() : -1; // nothing yet allocated for a body that is not there
    if (length == 0 || (length < 0 && first == -1)) {
      return EMPTY;
    }
    List<byte[]> chunks = new ArrayList<>(1);
    byte[] chunk = null;
    int filled = 0;
    long total = 0;
    while (true) {
      if (chunk == null || filled == chunk.length) {
        // a declared length is read in chunks of it (one, for nearly every body)
        int size = (int) (length >= 0 ? Math.min(CHUNK, length - total) : CHUNK);
        if (size == 0) {
          break; // all it declared (Jetty frames the request by it)
        }
        held.take(size);
        chunk = new byte[size];
        chunks.add(chunk);
        filled = 0;
        if (first >= 0) {
          chunk[filled++] = (byte) first;
          total++;
          first = -1;
        }
      }
      int n = in.read(chunk, filled, chunk.length - filled);
      if (n == -1) {
        break;
      }
      filled += n;
      total += n;
      if (total > most) {
        throw new TooLarge(most);
      }
    }
    if (length >= 0 && total < length) {
      throw new EOFException("body ended after " + total + " of " + length + " bytes");
    }
    if (chunks.size() == 1 && filled == chunk.length) {
      return chunk; // read whole into one array of its size: nothing to join
    }
    held.take(total);
    byte[] body = new byte[(int) total];
    int at = 0;
    long made = 0;
    for (byte[] c : chunks) {
      int n = (int) Math.min(c.length, total - at);
      System.arraycopy(c, 0, body, at, n);
      at += n;
      made += c.length;
    }
    held.give(made); // the chunks are garbage now
    return body;
  }

  private static final byte[] EMPTY = new byte[0];
}
