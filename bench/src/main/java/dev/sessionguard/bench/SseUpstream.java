package dev.sessionguard.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * A minimal MCP upstream for the open-streams benchmark, on one selector thread so it can hold tens
 * of thousands of streams cheaply: POST {@code initialize} gets a new {@code Mcp-Session-Id}; other
 * POSTs a fixed result; DELETE 200; GET opens an SSE stream that never ends, with one event at once
 * and one "tick" event on every stream every {@code tickSeconds}.
 *
 * <p>Usage: {@code SseUpstream PORT [tickSeconds]}.
 */
public final class SseUpstream {
  private static final byte[] RESULT =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}"
          .getBytes(StandardCharsets.US_ASCII);
  private static final byte[] INIT_RESULT =
      ("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\","
              + "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"sse-upstream\","
              + "\"version\":\"1\"}}}")
          .getBytes(StandardCharsets.US_ASCII);

  /** One client connection: bytes read so far, bytes waiting to be written. */
  private static final class Conn {
    final SocketChannel ch;
    ByteBuffer in = ByteBuffer.allocate(4096);
    final ArrayDeque<ByteBuffer> out = new ArrayDeque<>();

    Conn(SocketChannel ch) {
      this.ch = ch;
    }
  }

  private final Set<Conn> streams = new HashSet<>();
  private long sessions;

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(args[0]);
    long tickNanos = (long) ((args.length > 1 ? Double.parseDouble(args[1]) : 5) * 1e9);
    new SseUpstream().run(port, tickNanos);
  }

  private void run(int port, long tickNanos) throws IOException {
    Selector selector = Selector.open();
    ServerSocketChannel server = ServerSocketChannel.open();
    server.bind(new InetSocketAddress("127.0.0.1", port), 4096);
    server.configureBlocking(false);
    server.register(selector, SelectionKey.OP_ACCEPT);
    System.out.println("sse-upstream listening on 127.0.0.1:" + port);
    long nextTick = System.nanoTime() + tickNanos;
    long ticks = 0;
    while (true) {
      selector.select(Math.max(1, (nextTick - System.nanoTime()) / 1_000_000));
      for (SelectionKey key : selector.selectedKeys()) {
        try {
          if (key.isAcceptable()) {
            SocketChannel ch;
            while ((ch = server.accept()) != null) {
              ch.configureBlocking(false);
              ch.register(selector, SelectionKey.OP_READ, new Conn(ch));
            }
          } else {
            Conn c = (Conn) key.attachment();
            if (key.isReadable()) {
              read(key, c);
            }
            if (key.isValid() && key.isWritable()) {
              flush(key, c);
            }
          }
        } catch (IOException e) {
          close(key);
        }
      }
      selector.selectedKeys().clear();
      if (System.nanoTime() >= nextTick) {
        nextTick += tickNanos;
        ticks++;
        byte[] event = chunk("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"tick\"}\n\n");
        for (Conn c : new HashSet<>(streams)) {
          send(c.ch.keyFor(selector), c, event);
        }
        if (ticks % 6 == 0) {
          System.out.println("open streams: " + streams.size());
        }
      }
    }
  }

  private void read(SelectionKey key, Conn c) throws IOException {
    if (!c.in.hasRemaining()) {
      c.in = ByteBuffer.allocate(c.in.capacity() * 2).put(c.in.flip());
    }
    if (c.ch.read(c.in) < 0) {
      close(key);
      return;
    }
    while (true) {
      byte[] buf = c.in.array();
      int end = headerEnd(buf, c.in.position());
      if (end < 0) {
        return;
      }
      String head = new String(buf, 0, end, StandardCharsets.ISO_8859_1);
      int length = 0;
      for (String line : head.split("\r\n")) {
        if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
          length = Integer.parseInt(line.substring(15).trim());
        }
      }
      int total = end + 4 + length;
      if (c.in.position() < total) {
        if (total > c.in.capacity()) {
          c.in = ByteBuffer.allocate(total).put(c.in.flip());
        }
        return;
      }
      String body = new String(buf, end + 4, length, StandardCharsets.UTF_8);
      answer(key, c, head.substring(0, head.indexOf(' ')), body);
      c.in.flip().position(total);
      c.in.compact();
    }
  }

  private void answer(SelectionKey key, Conn c, String method, String body) throws IOException {
    switch (method) {
      case "POST" -> {
        boolean init = body.contains("\"initialize\"");
        byte[] json = init ? INIT_RESULT : RESULT;
        String extra = init ? "Mcp-Session-Id: s-" + (++sessions) + "\r\n" : "";
        send(key, c, response("200 OK", "application/json", extra, json));
      }
      case "DELETE" -> send(key, c, response("200 OK", "application/json", "", new byte[0]));
      case "GET" -> {
        String head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                + "Transfer-Encoding: chunked\r\n\r\n";
        send(key, c, head.getBytes(StandardCharsets.US_ASCII));
        send(key, c, chunk("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"open\"}\n\n"));
        streams.add(c);
      }
      default -> send(key, c, response("405 Method Not Allowed", "text/plain", "", new byte[0]));
    }
  }

  private static byte[] response(String status, String type, String extra, byte[] body) {
    String head =
        "HTTP/1.1 "
            + status
            + "\r\nContent-Type: "
            + type
            + "\r\nContent-Length: "
            + body.length
            + "\r\n"
            + extra
            + "\r\n";
    byte[] h = head.getBytes(StandardCharsets.US_ASCII);
    byte[] all = new byte[h.length + body.length];
    System.arraycopy(h, 0, all, 0, h.length);
    System.arraycopy(body, 0, all, h.length, body.length);
    return all;
  }

  private static byte[] chunk(String data) {
    byte[] d = data.getBytes(StandardCharsets.UTF_8);
    return (Integer.toHexString(d.length) + "\r\n" + data + "\r\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  private void send(SelectionKey key, Conn c, byte[] bytes) {
    if (key == null || !key.isValid()) {
      return;
    }
    c.out.add(ByteBuffer.wrap(bytes));
    try {
      flush(key, c);
    } catch (IOException e) {
      close(key);
    }
  }

  private static void flush(SelectionKey key, Conn c) throws IOException {
    while (!c.out.isEmpty()) {
      ByteBuffer b = c.out.peek();
      c.ch.write(b);
      if (b.hasRemaining()) {
        key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
        return;
      }
      c.out.poll();
    }
    key.interestOps(SelectionKey.OP_READ);
  }

  private void close(SelectionKey key) {
    Object a = key.attachment();
    if (a instanceof Conn c) {
      streams.remove(c);
    }
    key.cancel();
    try {
      key.channel().close();
    } catch (IOException ignored) {
      // already gone
    }
  }

  private static int headerEnd(byte[] b, int limit) {
    for (int i = 0; i + 3 < limit; i++) {
      if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
        return i;
      }
    }
    return -1;
  }
}
