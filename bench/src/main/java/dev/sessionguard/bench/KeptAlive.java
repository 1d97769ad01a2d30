package dev.sessionguard.bench;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Opens N keep-alive connections to a guard, sends {@code tools/call} three times on each (a
 * connection's parser state settles from its second message on), then holds them all open until its
 * standard input closes. Prints {@code held=N} once they are all established. Usage: {@code
 * KeptAlive HOST PORT SESSION N}.
 */
public final class KeptAlive {
  private KeptAlive() {}

  public static void main(String[] args) throws IOException {
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    String session = args[2];
    int n = Integer.parseInt(args[3]);
    byte[] body =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}"
            .getBytes(StandardCharsets.UTF_8);
    byte[] head =
        ("POST /mcp HTTP/1.1\r\nHost: guard\r\nContent-Type: application/json\r\n"
                + "Accept: application/json, text/event-stream\r\nUser-Agent: bench/1\r\n"
                + "Mcp-Session-Id: "
                + session
                + "\r\nMCP-Protocol-Version: 2025-11-25\r\nContent-Length: "
                + body.length
                + "\r\n\r\n")
            .getBytes(StandardCharsets.ISO_8859_1);
    List<Socket> held = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      Socket s = new Socket(host, port);
      for (int k = 0; k < 3; k++) {
        s.getOutputStream().write(head);
        s.getOutputStream().write(body);
        readAnswer(s.getInputStream());
      }
      held.add(s);
    }
    System.out.println("held=" + held.size());
    System.out.flush();
    while (System.in.read() != -1) {
      // hold until the caller closes our input
    }
    for (Socket s : held) {
      s.close();
    }
  }

  /** Reads one answer with a Content-Length (the guard relays the upstream's). */
  private static void readAnswer(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before the answer's head");
      }
      head.append((char) b);
    }
    String lower = head.toString().toLowerCase(java.util.Locale.ROOT);
    int at = lower.indexOf("content-length:");
    if (!lower.startsWith("http/1.1 200") || at < 0) {
      throw new IOException("unexpected answer: " + head);
    }
    int eol = lower.indexOf("\r\n", at);
    int length = Integer.parseInt(lower.substring(at + 15, eol).trim());
    if (in.readNBytes(length).length != length) {
      throw new IOException("answer cut short");
    }
  }
}
