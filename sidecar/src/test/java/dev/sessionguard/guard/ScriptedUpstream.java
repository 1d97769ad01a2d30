package dev.sessionguard.guard;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 upstream on a raw socket, for faults a real server would not produce: each request is
 * handed to a script that writes whatever bytes it likes (or resets the connection).
 */
public final class ScriptedUpstream implements AutoCloseable {

  /** One request: method, path, lower-cased headers, body. */
  public record Request(String method, String path, Map<String, String> headers, String body) {
    public boolean isInitialize() {
      return body.contains("\"initialize\"");
    }
  }

  /** What the upstream does with a request. */
  @FunctionalInterface
  public interface Script {
    void answer(Request request, Socket socket) throws Exception;
  }

  public final List<Request> seen = new CopyOnWriteArrayList<>();
  private final AtomicInteger accepted = new AtomicInteger();
  private final ServerSocket server;
  private final ExecutorService pool = Executors.newCachedThreadPool();
  private volatile Script script = (r, s) -> json(s, 200, Map.of(), "{}");

  public ScriptedUpstream() throws IOException {
    server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
    pool.execute(this::accept);
  }

  public URI mcpUrl() {
    return URI.create("http://127.0.0.1:" + server.getLocalPort() + "/mcp");
  }

  /** How many connections it has accepted so far. */
  public int connections() {
    return accepted.get();
  }

  public void script(Script script) {
    this.script = script;
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        accepted.incrementAndGet();
        pool.execute(() -> serve(s));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void serve(Socket socket) {
    try (socket) {
      socket.setTcpNoDelay(true); // each scripted write leaves at once
      InputStream in = socket.getInputStream();
      while (true) {
        Request request = read(in);
        if (request == null) {
          return;
        }
        seen.add(request);
        script.answer(request, socket);
        if (socket.isClosed()) {
          return;
        }
      }
    } catch (Exception e) {
      // the script reset or abandoned the connection
    }
  }

  private static Request read(InputStream in) throws IOException {
    ByteArrayOutputStream head = new ByteArrayOutputStream();
    int b;
    int state = 0;
    while (state < 4 && (b = in.read()) != -1) {
      head.write(b);
      state = (b == '\r' || b == '\n') ? state + 1 : 0;
    }
    if (state < 4) {
      return null;
    }
    String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
    String[] requestLine = lines[0].split(" ");
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon > 0) {
        headers.put(
            lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
            lines[i].substring(colon + 1).trim());
      }
    }
    int length = Integer.parseInt(headers.getOrDefault("content-length", "0"));
    String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
    return new Request(requestLine[0], requestLine[1], headers, body);
  }

  /** A complete JSON answer with extra headers. */
  public static void json(Socket s, int status, Map<String, String> headers, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    StringBuilder head = new StringBuilder("HTTP/1.1 " + status + " X\r\n");
    headers.forEach((k, v) -> head.append(k).append(": ").append(v).append("\r\n"));
    head.append("Content-Type: application/json\r\nContent-Length: ")
        .append(bytes.length)
        .append("\r\n\r\n");
    OutputStream out = s.getOutputStream();
    out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
    out.write(bytes);
    out.flush();
  }

  /** Answers an initialize with a new session id, {@code s-1}, {@code s-2}, ... */
  public static void issueSession(Socket s, java.util.concurrent.atomic.AtomicInteger issued)
      throws IOException {
    json(s, 200, Map.of("Mcp-Session-Id", "s-" + issued.incrementAndGet()), "{}");
  }

  /** Writes raw bytes. */
  public static void raw(Socket s, String text) throws IOException {
    s.getOutputStream().write(text.getBytes(StandardCharsets.ISO_8859_1));
    s.getOutputStream().flush();
  }

  /**
   * Streams chunked SSE events ({@code data: 0}, {@code data: 1}, ...) on an answer whose head was
   * sent, one each time 20 ms pass with nothing read, until the guard closes the connection: true
   * when it did (end of input, or a write or read failing), false after {@code max} events.
   */
  public static boolean eventsUntilHungUp(Socket s, int max) throws IOException {
    s.setSoTimeout(20);
    InputStream in = s.getInputStream();
    for (int i = 0; i < max; i++) {
      String event = "data: " + i + "\n\n";
      try {
        raw(s, Integer.toHexString(event.length()) + "\r\n" + event + "\r\n");
        if (in.read() == -1) {
          return true;
        }
      } catch (SocketTimeoutException e) {
        // still open: the next event
      } catch (IOException e) {
        return true; // reset by the guard
      }
    }
    return false;
  }

  /** Resets the connection (RST, not a clean close). */
  public static void reset(Socket s) throws IOException {
    s.setSoLinger(true, 0);
    s.close();
  }

  @Override
  public void close() throws IOException {
    server.close();
    pool.shutdownNow();
  }
}
