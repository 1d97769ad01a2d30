package dev.sessionguard.guard;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A quick, well-behaved session-era MCP server: {@code initialize} gets a fresh session id, other
 * POSTs on a live session get a JSON result, DELETE ends a session, unknown sessions get 404.
 * Records every request it sees. It serves MCP on every path ending in {@code /mcp}, so several
 * guards can share it with their requests told apart ({@link #mcpUrl(String)}).
 */
public final class FastUpstream implements AutoCloseable {
  /** One request as the upstream saw it. */
  public record Seen(
      String method,
      String path,
      String sessionId,
      String body,
      String authorization,
      String query) {}

  public final List<Seen> seen = new CopyOnWriteArrayList<>();
  public final Set<String> live = ConcurrentHashMap.newKeySet();
  public final AtomicInteger initializes = new AtomicInteger();

  /**
   * When true, a request without {@code Authorization} gets 401, as from an upstream that
   * authenticates every request itself (vMCP).
   */
  public volatile boolean credentialsRequired;

  private final HttpServer server;
  private final ExecutorService pool = Executors.newFixedThreadPool(32);

  public FastUpstream() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 4096);
    server.createContext("/", this::handle);
    server.setExecutor(pool);
    server.start();
  }

  public URI mcpUrl() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/mcp");
  }

  /** The MCP endpoint at {@code /<name>/mcp}: the same sessions, seen on their own path. */
  public URI mcpUrl(String name) {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/" + name + "/mcp");
  }

  /** Sessions the upstream holds as if another guard had admitted them (a restart). */
  public String preexisting() {
    String id = UUID.randomUUID().toString();
    live.add(id);
    return id;
  }

  private void handle(HttpExchange ex) throws IOException {
    String body;
    try (InputStream in = ex.getRequestBody()) {
      body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    String sid = ex.getRequestHeaders().getFirst("Mcp-Session-Id");
    String authorization = ex.getRequestHeaders().getFirst("Authorization");
    seen.add(
        new Seen(
            ex.getRequestMethod(),
            ex.getRequestURI().getPath(),
            sid,
            body,
            authorization,
            ex.getRequestURI().getRawQuery()));
    String method = ex.getRequestMethod();
    if (!ex.getRequestURI().getPath().endsWith("/mcp")) {
      json(ex, 200, "{}");
    } else if (credentialsRequired && authorization == null) {
      ex.getResponseHeaders().add("WWW-Authenticate", "Bearer");
      json(ex, 401, "");
    } else if (method.equals("POST") && body.contains("\"initialize\"")) {
      initializes.incrementAndGet();
      String id = UUID.randomUUID().toString();
      live.add(id);
      ex.getResponseHeaders().add("Mcp-Session-Id", id);
      json(
          ex,
          200,
          "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\"}}");
    } else if (sid != null && !live.contains(sid)) {
      json(
          ex,
          404,
          "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32001,\"message\":\"x\"}}");
    } else if (method.equals("DELETE")) {
      live.remove(sid);
      ex.sendResponseHeaders(200, -1);
      ex.close();
    } else if (method.equals("GET")) {
      json(ex, 405, "");
    } else {
      json(ex, 200, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
    }
  }

  private static void json(HttpExchange ex, int status, String text) throws IOException {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    pool.shutdownNow();
  }
}
