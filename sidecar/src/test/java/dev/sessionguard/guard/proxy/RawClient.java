package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A client on a raw socket, for what an HTTP client library would not send: requests ahead of their
 * answers, heads and bodies in pieces, a close at any byte. Reads answers framed by Content-Length
 * or chunked.
 */
final class RawClient implements AutoCloseable {
  /** One answer: status, lower-cased headers (repeats joined by commas), body. */
  record Answer(int status, Map<String, String> headers, String body) {}

  final Socket socket;
  private final InputStream in;
  private final OutputStream out;

  RawClient(int port) throws IOException {
    socket = new Socket("127.0.0.1", port);
    socket.setSoTimeout(10_000); // an answer that never comes fails the test
    socket.setTcpNoDelay(true); // each send leaves at once, as the test split it
    in = socket.getInputStream();
    out = socket.getOutputStream();
  }

  /** A POST to /mcp with its Content-Length, on {@code session} when not null. */
  static String post(String session, String body, String... extra) {
    return "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
        + "Accept: application/json, text/event-stream\r\n"
        + (session == null ? "" : "Mcp-Session-Id: " + session + "\r\n")
        + String.join("", extra)
        + "Content-Length: "
        + body.getBytes(StandardCharsets.UTF_8).length
        + "\r\n\r\n"
        + body;
  }

  /** A POST to /mcp on {@code session} whose body is sent as one chunk. */
  static String chunkedPost(String session, String body) {
    return "POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
        + "Accept: application/json, text/event-stream\r\nMcp-Session-Id: "
        + session
        + "\r\nTransfer-Encoding: chunked\r\n\r\n"
        + Integer.toHexString(body.length())
        + "\r\n"
        + body
        + "\r\n0\r\n\r\n";
  }

  /** A {@code tools/call} of the echo tool with {@code text}. */
  static String call(int id, String text) {
    return "{\"jsonrpc\":\"2.0\",\"id\":"
        + id
        + ",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\""
        + text
        + "\"}}}";
  }

  static String initialize(int id) {
    return "{\"jsonrpc\":\"2.0\",\"id\":"
        + id
        + ",\"method\":\"initialize\",\"params\":{"
        + "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
        + "\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
  }

  /** Writes the requests' bytes in one write. */
  void send(String... requests) throws IOException {
    out.write(String.join("", requests).getBytes(StandardCharsets.UTF_8));
    out.flush();
  }

  Answer read() throws IOException {
    String statusLine = line();
    Map<String, String> headers = new LinkedHashMap<>();
    for (String l = line(); !l.isEmpty(); l = line()) {
      int colon = l.indexOf(':');
      headers.merge(
          l.substring(0, colon).toLowerCase(Locale.ROOT),
          l.substring(colon + 1).trim(),
          (a, b) -> a + "," + b);
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    if (headers.containsKey("content-length")) {
      body.write(in.readNBytes(Integer.parseInt(headers.get("content-length"))));
    } else if ("chunked".equals(headers.get("transfer-encoding"))) {
      for (int n = Integer.parseInt(line(), 16); n > 0; n = Integer.parseInt(line(), 16)) {
        body.write(in.readNBytes(n));
        assertThat(line()).isEmpty();
      }
      assertThat(line()).isEmpty();
    }
    return new Answer(
        Integer.parseInt(statusLine.split(" ")[1]), headers, body.toString(StandardCharsets.UTF_8));
  }

  /** The next byte, -1 once the guard has closed the connection. */
  int next() throws IOException {
    return in.read();
  }

  private String line() throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    int b;
    while ((b = in.read()) != '\n') {
      assertThat(b).as("the connection closed mid-answer").isNotEqualTo(-1);
      line.write(b);
    }
    String s = line.toString(StandardCharsets.ISO_8859_1);
    return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
