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

  /** Where the body is read from, opened only once it is known to be wanted. */
  @FunctionalInterface
  interface Source {
    InputStream open() throws IOException;
  }

  /** The largest piece a body is read into, each taken from the budget as it is made. */
  static final int CHUNK = 16 * 1024;

  /** The first piece of a body whose bytes come one by one. */
  private static final int FIRST = 1024;

  /**
   * Reads the whole body, failing as soon as it passes {@code limit}, its memory taken from {@code
   * held} as it arrives: a client that declares a large body and sends it slowly holds at most
   * twice what it has sent (1 KiB for its first byte). The pieces read are then joined into one
   * array, taken too, and given back: what a body holds at its peak is what the budget counts.
   *
   * @param length the declared Content-Length, or -1 (chunked, or none)
   * @throws TooLarge over {@code limit}, or larger than the whole budget could ever hold
   * @throws BodyBudget.Exhausted when the budget has no room for it now
   */
  static byte[] readAll(Source source, long length, long limit, BodyBudget.Held held)
      throws IOException {
    // what an empty budget can hold at the peak: the pieces (never past it) and their join
    long most = Math.min(limit, held.capacity() / 2);
    if (length > most) {
      throw new TooLarge(most);
    }
    if (length > 0 && 2 * length > held.available()) {
      throw new BodyBudget.Exhausted(); // would not fit now: refused before any of it is sent
    }
    // Only now the stream: asking for it is what makes Jetty answer an Expect: 100-continue, and
    // a client then sends a body the guard may refuse unread (its close a reset that can lose the
    // answer).
    InputStream in = source.open();
    if (length == 0) {
      return EMPTY;
    }
    List<byte[]> chunks = new ArrayList<>(1);
    byte[] chunk = null;
    int filled = 0;
    long total = 0;
    int grow = FIRST;
    while (length < 0 || total < length) {
      if (chunk == null || filled == chunk.length) {
        // A piece is made once a byte of it has come (nothing is taken for what has not), as
        // large as what has come already, or twice the last: what a body holds stays within
        // twice what it has sent, however slowly it sends; and one of up to 16 KiB that came
        // whole (as nearly every body does) is read into one piece of its size.
        int next = in.read();
        if (next == -1) {
          break;
        }
        long room = (length >= 0 ? length : most) - total;
        if (room <= 0) { // a byte past the most a chunked body may be
          throw new TooLarge(most);
        }
        int size = (int) Math.min(room, Math.min(CHUNK, Math.max(grow, 1L + in.available())));
        grow = Math.min(CHUNK, grow * 2);
        held.take(size);
        chunk = new byte[size];
        chunks.add(chunk);
        chunk[0] = (byte) next;
        filled = 1;
        total++;
      } else {
        int n = in.read(chunk, filled, chunk.length - filled);
        if (n == -1) {
          break;
        }
        if (n == 0) { // (a blocking stream never does; not a reason to spin)
          throw new IOException("the request body's stream read nothing");
        }
        filled += n;
        total += n; // (never past the most: no piece is larger than the room left)
      }
    }
    if (length >= 0 && total < length) {
      throw new EOFException("body ended after " + total + " of " + length + " bytes");
    }
    if (chunks.isEmpty()) {
      return EMPTY;
    }
    if (chunks.size() == 1 && filled == chunk.length) {
      return chunk; // read whole into one piece of its size: nothing to join
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
    held.give(made); // the pieces are garbage now
    return body;
  }

  private static final byte[] EMPTY = new byte[0];
}
