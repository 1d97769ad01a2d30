package dev.sessionguard.guard;

import io.javalin.Javalin;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code --training-run}: the guard's start-up and request paths, run once against a stub MCP
 * server of its own, then a clean exit — what a class-data archive is made from when the image is
 * built (there is no MCP server there). It reads a policy file, starts both ports on loopback,
 * forwards an {@code initialize}, JSON and SSE {@code tools/call}s of both eras and a DELETE, is
 * refused once, reads every admin path, stops, and exits 0; 1 if any answer was not the expected
 * one (an image must not be built from a guard that does not work).
 */
final class TrainingRun {
  static final String FLAG = "--training-run";

  private static final String SESSION = "training-session-1";
  private static final String SESSION_ERA = "2025-11-25";
  private static final String PER_REQUEST_ERA = "2026-07-28";
  private static final String RESULT = "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}";

  private final PrintStream err;
  private final List<String> problems = new ArrayList<>();

  private TrainingRun(PrintStream err) {
    this.err = err;
  }

  /** Returns the exit code: 0 when every answer was the expected one. */
  static int run(PrintStream err) {
    return new TrainingRun(err).run();
  }

  private int run() {
    Javalin upstream = stubUpstream();
    Path dir = null;
    try {
      dir = Files.createTempDirectory("session-guard-training");
      // The operator's format: JSON, with a header and a hash.
      Path policy =
          Files.writeString(
              dir.resolve("policy.json"),
              """
              {"schemaVersion": 1, "name": "training", "generation": 1,
               "hash": "0000000000000000000000000000000000000000000000000000000000000000",
               "identity": {"source": "Address", "anonymous": "PerAddress"},
               "timeouts": {"drainDelay": "10ms", "drain": "1s"}}
              """);
      String[] args = {
        "--policy", policy.toString(),
        "--upstream", "http://127.0.0.1:" + upstream.port() + "/mcp",
        "--host", "127.0.0.1",
        "--port", "0",
        "--admin-port", "0"
      };
      AtomicReference<Guard> started = new AtomicReference<>();
      int code =
          Main.run(
              args, err, (config, line, loaded) -> started.set(Main.launch(config, line, loaded)));
      if (code != 0) {
        return code;
      }
      Guard guard = started.get();
      try {
        exercise(guard.port(), guard.adminPort());
      } finally {
        guard.drain(); // the way out a pod takes; it stops the guard
      }
    } catch (IOException | RuntimeException e) {
      problems.add("training run failed: " + e);
    } finally {
      upstream.stop();
      if (dir != null) {
        delete(dir);
      }
    }
    if (!problems.isEmpty()) {
      problems.forEach(p -> err.println("training run: " + p));
      return 1;
    }
    err.println("training run: ok");
    return 0;
  }

  private void exercise(int port, int admin) throws IOException {
    expect("GET /readyz", Http.get(admin, "/readyz"), 200, "ready");
    Http init =
        Http.post(
            port,
            Map.of("MCP-Protocol-Version", SESSION_ERA),
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                + "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"training\",\"version\":\"1\"}}}");
    expect("initialize", init, 200, "result");
    if (!SESSION.equals(init.header("Mcp-Session-Id"))) {
      problems.add("initialize: no Mcp-Session-Id in " + init.head);
    }
    Map<String, String> onSession =
        Map.of("MCP-Protocol-Version", SESSION_ERA, "Mcp-Session-Id", SESSION);
    expect("notifications/initialized", Http.post(port, onSession, notification()), 202, "");
    expect("tools/call (JSON)", Http.post(port, onSession, call("json")), 200, "\"result\"");
    expect("tools/call (SSE)", Http.post(port, onSession, call("sse")), 200, "data: ");
    expect(
        "tools/call (2026-07-28)",
        Http.post(
            port,
            Map.of(
                "MCP-Protocol-Version",
                PER_REQUEST_ERA,
                "Mcp-Method",
                "tools/call",
                "Mcp-Name",
                "json"),
            call("json")),
        200,
        "\"result\"");
    expect("a bad body", Http.post(port, onSession, "{not json"), 400, "-32700");
    expect("DELETE", Http.send(port, "DELETE", "/mcp", onSession, ""), 200, "");
    expect("after DELETE", Http.post(port, onSession, call("json")), 404, "");
    expect("GET /healthz", Http.get(admin, "/healthz"), 200, "ok");
    expect("GET /metrics", Http.get(admin, "/metrics"), 200, "sessionguard_sessions_active");
    expect("GET /policy", Http.get(admin, "/policy"), 200, "\"training\"");
    expect("GET /sessions", Http.get(admin, "/sessions"), 200, "\"active\"");
  }

  private void expect(String what, Http answer, int status, String bodyContains) {
    if (answer.status != status || !answer.body.contains(bodyContains)) {
      problems.add(
          what + ": expected " + status + " with '" + bodyContains + "', got " + answer.head);
    }
  }

  private static String notification() {
    return "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
  }

  private static String call(String tool) {
    return "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\""
        + tool
        + "\",\"arguments\":{}}}";
  }

  /** An MCP server in miniature, on the guard's own Javalin: no classes the guard does not use. */
  private static Javalin stubUpstream() {
    return Javalin.create(
            c -> {
              c.startup.showJavalinBanner = false;
              c.startup.showOldJavalinVersionWarning = false;
              c.jetty.host = "127.0.0.1";
              c.jetty.port = 0;
              c.routes.post(
                  "/mcp",
                  ctx -> {
                    String body = ctx.body();
                    if (body.contains("\"initialize\"")) {
                      ctx.header("Mcp-Session-Id", SESSION)
                          .contentType("application/json")
                          .result("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
                    } else if (body.contains("notifications/")) {
                      ctx.status(202);
                    } else if (body.contains("\"sse\"")) {
                      ctx.contentType("text/event-stream")
                          .result("event: message\ndata: " + RESULT + "\n\n");
                    } else {
                      ctx.contentType("application/json").result(RESULT);
                    }
                  });
              c.routes.delete("/mcp", ctx -> ctx.status(200));
            })
        .start();
  }

  private static void delete(Path dir) {
    try (var files = Files.list(dir)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      // a temporary directory: the image build discards it anyway
    }
  }

  /** One HTTP/1.1 exchange on its own connection, read to the end: enough for a training run. */
  private record Http(int status, String head, Map<String, String> headers, String body) {
    static Http get(int port, String path) throws IOException {
      return send(port, "GET", path, Map.of(), "");
    }

    static Http post(int port, Map<String, String> headers, String body) throws IOException {
      return send(port, "POST", "/mcp", headers, body);
    }

    static Http send(int port, String method, String path, Map<String, String> headers, String body)
        throws IOException {
      byte[] content = body.getBytes(StandardCharsets.UTF_8);
      StringBuilder request =
          new StringBuilder(method)
              .append(' ')
              .append(path)
              .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
              .append("Accept: application/json, text/event-stream\r\n");
      headers.forEach((k, v) -> request.append(k).append(": ").append(v).append("\r\n"));
      if (content.length > 0) {
        request.append("Content-Type: application/json\r\nContent-Length: ");
        request.append(content.length).append("\r\n");
      }
      request.append("\r\n");
      try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
        socket.setSoTimeout(30_000);
        OutputStream out = socket.getOutputStream();
        out.write(request.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.write(content);
        out.flush();
        String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int end = answer.indexOf("\r\n\r\n");
        String head = end < 0 ? answer : answer.substring(0, end);
        String[] lines = head.split("\r\n");
        Map<String, String> fields = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
          int colon = lines[i].indexOf(':');
          if (colon > 0) {
            fields.put(
                lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT),
                lines[i].substring(colon + 1).strip());
          }
        }
        String[] statusLine = lines[0].split(" ");
        int status = statusLine.length > 1 ? Integer.parseInt(statusLine[1]) : -1;
        return new Http(status, lines[0], fields, end < 0 ? "" : answer.substring(end + 4));
      }
    }

    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }
}
