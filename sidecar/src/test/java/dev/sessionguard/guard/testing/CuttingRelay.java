package dev.sessionguard.guard.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A TCP relay on a loopback port in front of a real server, which can lose one reply and cut the
 * connection it came on: what a reset between a client and its server does to a request sent just
 * before. Connections made afterwards are relayed as they are.
 */
public final class CuttingRelay implements AutoCloseable {
  private final ServerSocket listener;
  private final int target;
  private volatile String marker;
  private final List<Socket> sockets = new ArrayList<>();

  public CuttingRelay(int targetPort) throws IOException {
    this.target = targetPort;
    this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread accept = new Thread(this::accept, "relay-accept");
    accept.setDaemon(true);
    accept.start();
  }

  public int port() {
    return listener.getLocalPort();
  }

  /**
   * The reply to the next request that contains {@code marker} (in one read) is dropped and its
   * connection closed on both sides: the request was served, and the client never hears of it.
   */
  public void cutReplyTo(String marker) {
    this.marker = marker;
  }

  private void accept() {
    while (!listener.isClosed()) {
      Socket client;
      try {
        client = listener.accept();
      } catch (IOException closed) {
        return;
      }
      try {
        Socket server = new Socket(InetAddress.getLoopbackAddress(), target);
        synchronized (sockets) {
          sockets.add(client);
          sockets.add(server);
        }
        AtomicBoolean cut = new AtomicBoolean();
        pump(client, server, cut, false);
        pump(server, client, cut, true);
      } catch (IOException targetDown) {
        closeQuietly(client); // as a refused connection looks to the client; accept the next
      }
    }
  }

  private void pump(Socket from, Socket to, AtomicBoolean cut, boolean replies) {
    Thread t =
        new Thread(
            () -> {
              byte[] buffer = new byte[8192];
              try (InputStream in = from.getInputStream();
                  OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) != -1) {
                  if (replies && cut.get()) {
                    break; // dropped, and both sides closed below
                  }
                  String wanted = marker;
                  if (!replies
                      && wanted != null
                      && new String(buffer, 0, n, StandardCharsets.ISO_8859_1).contains(wanted)) {
                    marker = null;
                    cut.set(true);
                  }
                  out.write(buffer, 0, n);
                  out.flush();
                }
              } catch (IOException gone) {
                // one side closed: close the other
              } finally {
                closeQuietly(from);
                closeQuietly(to);
              }
            },
            "relay-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // closing
    }
  }

  @Override
  public void close() throws IOException {
    listener.close();
    synchronized (sockets) {
      sockets.forEach(CuttingRelay::closeQuietly);
    }
  }
}
