package dev.sessionguard.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.locks.LockSupport;

/**
 * An open-model load generator, after wrk2: requests are due at a fixed rate whatever the server
 * does, and each latency is measured from the moment the request was <em>due</em>, so a stalled
 * server is charged for the requests it delayed (no coordinated omission). HTTP/1.1 keep-alive over
 * a fixed number of connections, one selector thread; a due request waits for a free connection
 * (and is charged for the wait). Prints one line of percentiles.
 *
 * <p>Not built on the JDK HttpClient: with its selector and executor hand-offs it topped out near
 * 2,000 requests/s on one shared core here, far below what it had to offer.
 *
 * <p>Usage: {@code OpenLoad --url U --rate R [--seconds S] [--warmup W] [--connections C] [--body
 * JSON] [--header 'Name: value']...}. The first {@code --warmup} seconds are sent but not counted.
 */
public final class OpenLoad {
  private OpenLoad() {}

  /** One keep-alive connection: at most one request on it at a time. */
  private static final class Conn {
    SocketChannel ch;
    SelectionKey key;
    ByteBuffer in = ByteBuffer.allocate(16 * 1024);
    ByteBuffer out;
    long due = -1; // the request in flight: its due time, or -1 when idle
    int slot = -1;
  }

  public static void main(String[] args) throws IOException {
    URI url = null;
    String body = null;
    double rate = 0;
    double seconds = 20;
    double warmup = 5;
    int connections = 16;
    List<String> headers = new ArrayList<>();
    for (int i = 0; i < args.length; i += 2) {
      String v = args[i + 1];
      switch (args[i]) {
        case "--url" -> url = URI.create(v);
        case "--rate" -> rate = Double.parseDouble(v);
        case "--seconds" -> seconds = Double.parseDouble(v);
        case "--warmup" -> warmup = Double.parseDouble(v);
        case "--connections" -> connections = Integer.parseInt(v);
        case "--body" -> body = v;
        case "--header" -> headers.add(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    if (url == null || rate <= 0) {
      throw new IllegalArgumentException("--url and --rate are required");
    }
    InetSocketAddress address =
        new InetSocketAddress(url.getHost(), url.getPort() == -1 ? 80 : url.getPort());
    byte[] request = request(url, body, headers);

    long period = (long) (1e9 / rate);
    int warm = (int) (warmup * rate);
    int total = warm + (int) (seconds * rate);
    long[] latency = new long[total];
    Arrays.fill(latency, -1);
    int[] counts = new int[2]; // non-2xx, requests lost to a broken connection

    Selector selector = Selector.open();
    ArrayDeque<Conn> idle = new ArrayDeque<>();
    for (int i = 0; i < connections; i++) {
      Conn c = new Conn();
      connect(c, address, selector);
      idle.add(c);
    }

    long start = System.nanoTime() + 200_000_000L;
    long measuredFrom = start + warm * period;
    pace(selector, start, period, total);
    long deadline = start + total * period + 30_000_000_000L; // then unanswered ones are lost
    int next = 0; // the next request to become due
    ArrayDeque<Integer> waiting = new ArrayDeque<>(); // due, no free connection yet
    int answered = 0;
    int inFlight = 0;
    long lastSent = start;
    while ((next < total || !waiting.isEmpty() || inFlight > 0) && System.nanoTime() < deadline) {
      long now = System.nanoTime();
      while (next < total && start + next * period <= now) {
        waiting.add(next++);
      }
      while (!waiting.isEmpty() && !idle.isEmpty()) {
        Conn c = idle.poll();
        int slot = waiting.poll();
        c.slot = slot;
        c.due = start + slot * period;
        c.out = ByteBuffer.wrap(request);
        inFlight++;
        lastSent = System.nanoTime();
        if (!write(c)) {
          c.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        }
      }
      if (next >= total || start + next * period > System.nanoTime()) {
        selector.select(10); // the pacer wakes it when the next request is due
      } else {
        selector.selectNow();
      }
      for (SelectionKey key : selector.selectedKeys()) {
        Conn c = (Conn) key.attachment();
        try {
          if (key.isValid() && key.isWritable() && write(c)) {
            key.interestOps(SelectionKey.OP_READ);
          }
          if (key.isValid() && key.isReadable()) {
            int status = read(c);
            if (status > 0) { // a whole response
              long took = System.nanoTime() - c.due;
              if (status / 100 != 2) {
                counts[0]++;
              }
              latency[c.slot] = took;
              answered++;
              inFlight--;
              c.due = -1;
              idle.add(c);
            }
          }
        } catch (IOException e) {
          if (c.due >= 0) {
            counts[1]++;
            inFlight--; // that request is lost; the connection is opened anew
          } else {
            idle.remove(c);
          }
          key.cancel();
          c.ch.close();
          connect(c, address, selector);
          idle.add(c);
        }
      }
      selector.selectedKeys().clear();
    }

    long[] measured = Arrays.stream(latency, warm, total).filter(l -> l >= 0).sorted().toArray();
    double achieved = (total - warm) / ((lastSent - measuredFrom) / 1e9);
    System.out.printf(
        "rate=%.0f achieved=%.0f measured=%d errors=%d non2xx=%d unanswered=%d"
            + " p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f%n",
        rate,
        achieved,
        measured.length,
        counts[1],
        counts[0],
        total - answered,
        pct(measured, 0.50),
        pct(measured, 0.90),
        pct(measured, 0.99),
        pct(measured, 0.999),
        measured.length == 0 ? Double.NaN : measured[measured.length - 1] / 1e3);
  }

  /**
   * Wakes the selector whenever a request falls due: a selector's own timeout has millisecond
   * granularity, which would add up to a millisecond to every latency.
   */
  private static void pace(Selector selector, long start, long period, int total) {
    Thread pacer =
        new Thread(
            () -> {
              for (int i = 0; i < total; i++) {
                long wait;
                while ((wait = start + i * period - System.nanoTime()) > 0) {
                  LockSupport.parkNanos(wait);
                }
                selector.wakeup();
              }
            },
            "pacer");
    pacer.setDaemon(true);
    pacer.start();
  }

  private static byte[] request(URI url, String body, List<String> headers) {
    byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    StringBuilder head =
        new StringBuilder()
            .append(body == null ? "GET " : "POST ")
            .append(url.getRawPath().isEmpty() ? "/" : url.getRawPath())
            .append(url.getRawQuery() == null ? "" : "?" + url.getRawQuery())
            .append(" HTTP/1.1\r\nHost: ")
            .append(url.getRawAuthority())
            .append("\r\n");
    for (String h : headers) {
      head.append(h).append("\r\n");
    }
    if (body != null) {
      head.append("Content-Length: ").append(b.length).append("\r\n");
    }
    byte[] h = head.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
    byte[] all = Arrays.copyOf(h, h.length + b.length);
    System.arraycopy(b, 0, all, h.length, b.length);
    return all;
  }

  private static void connect(Conn c, InetSocketAddress address, Selector selector)
      throws IOException {
    c.ch = SocketChannel.open(address); // blocking connect, then non-blocking use
    c.ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    c.ch.configureBlocking(false);
    c.key = c.ch.register(selector, SelectionKey.OP_READ, c);
    c.in.clear();
    c.due = -1;
  }

  /** True when the whole request has been written. */
  private static boolean write(Conn c) throws IOException {
    if (c.out == null) {
      return true;
    }
    c.ch.write(c.out);
    if (c.out.hasRemaining()) {
      return false;
    }
    c.out = null;
    return true;
  }

  /** Reads what arrived; returns the status once a whole response is in, else 0. */
  private static int read(Conn c) throws IOException {
    if (!c.in.hasRemaining()) {
      c.in = ByteBuffer.allocate(c.in.capacity() * 2).put(c.in.flip());
    }
    if (c.ch.read(c.in) < 0) {
      throw new IOException("connection closed by the server");
    }
    int end = complete(c.in.array(), c.in.position());
    if (end < 0) {
      return 0;
    }
    if (c.due < 0) {
      throw new IOException("a response nobody asked for");
    }
    byte[] b = c.in.array();
    int status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    c.in.flip().position(end);
    c.in.compact();
    return status;
  }

  /** The end of the first whole response in b[0, n), or -1 when it is not all there yet. */
  static int complete(byte[] b, int n) {
    int headEnd = indexOf(b, 0, n, "\r\n\r\n");
    if (headEnd < 0) {
      return -1;
    }
    String head = new String(b, 0, headEnd, StandardCharsets.ISO_8859_1).toLowerCase(Locale.ROOT);
    int bodyStart = headEnd + 4;
    int cl = head.indexOf("\r\ncontent-length:");
    if (cl >= 0) {
      int eol = head.indexOf("\r\n", cl + 2);
      long length = Long.parseLong(head.substring(cl + 17, eol < 0 ? head.length() : eol).trim());
      return n >= bodyStart + length ? (int) (bodyStart + length) : -1;
    }
    if (head.contains("\r\ntransfer-encoding: chunked")) {
      int p = bodyStart;
      while (true) {
        int eol = indexOf(b, p, n, "\r\n");
        if (eol < 0) {
          return -1;
        }
        String size = new String(b, p, eol - p, StandardCharsets.ISO_8859_1);
        int semi = size.indexOf(';');
        int len = Integer.parseInt((semi < 0 ? size : size.substring(0, semi)).trim(), 16);
        if (len == 0) {
          int trailerEnd = indexOf(b, eol, n, "\r\n\r\n");
          return trailerEnd < 0 ? -1 : trailerEnd + 4;
        }
        p = eol + 2 + len + 2;
        if (p > n) {
          return -1;
        }
      }
    }
    return bodyStart; // no body (e.g. 204)
  }

  private static int indexOf(byte[] b, int from, int n, String s) {
    outer:
    for (int i = from; i + s.length() <= n; i++) {
      for (int j = 0; j < s.length(); j++) {
        if (b[i + j] != s.charAt(j)) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  private static double pct(long[] sorted, double q) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    int i = (int) Math.ceil(q * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(i, sorted.length - 1))] / 1e3;
  }
}
