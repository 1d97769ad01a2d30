package dev.sessionguard.guard.testing;

import static org.awaitility.Awaitility.await;

import io.lettuce.core.RedisClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A real {@code redis-server} on a free loopback port, without persistence; it can be stopped and
 * started again on the same port (a Redis outage). Skips the test when redis-server is missing.
 */
public final class RedisServer implements AutoCloseable {
  /**
   * Whether a guard's key (its prefix removed) holds a count or a record: not a tombstone, a lease,
   * the guard list, or a reaper's last claims (kept until received).
   */
  public static boolean countingKey(String key) {
    return !key.startsWith("t:")
        && !key.startsWith("lease:")
        && !key.startsWith("purged:")
        && !key.startsWith("claims:")
        && !key.equals("guards");
  }

  private final Path binary;
  private final int port;
  private Process process;

  private RedisServer(Path binary, int port) {
    this.binary = binary;
    this.port = port;
  }

  /** Starts a new server on a free port. */
  public static RedisServer start() {
    RedisServer server = new RedisServer(External.requireBinary("redis-server"), freePort());
    server.resume();
    return server;
  }

  public int port() {
    return port;
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }

  /** Starts the server again after {@link #stop} (empty: nothing was saved). */
  public synchronized void resume() {
    try {
      process =
          new ProcessBuilder(
                  binary.toString(),
                  "--port",
                  Integer.toString(port),
                  "--bind",
                  "127.0.0.1",
                  "--save",
                  "",
                  "--appendonly",
                  "no")
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD)
              .start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot start redis-server", e);
    }
    Process started = process;
    await()
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> answersPing() || !started.isAlive());
    if (!started.isAlive()) {
      throw new IllegalStateException("redis-server exited; is port " + port + " taken?");
    }
  }

  public synchronized boolean running() {
    return process != null && process.isAlive();
  }

  /** Kills the server (SIGKILL): clients see the connection drop. */
  public synchronized void stop() {
    if (process != null) {
      process.destroyForcibly();
      try {
        process.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      process = null;
    }
  }

  /**
   * Holds every client's commands for {@code d} ({@code CLIENT PAUSE}): Redis is up but slow, so
   * commands time out and then run late.
   */
  public void pause(Duration d) {
    RedisClient client = RedisClient.create(url());
    try (var own = client.connect()) {
      own.sync().clientPause(d.toMillis());
    } finally {
      client.shutdown();
    }
  }

  /** Empties every database: the next test starts from nothing, whatever namespaces it uses. */
  public void flushAll() {
    RedisClient client = RedisClient.create(url());
    try (var own = client.connect()) {
      own.sync().flushall();
    } finally {
      client.shutdown();
    }
  }

  @Override
  public void close() {
    stop();
  }

  private boolean answersPing() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 200);
      s.setSoTimeout(500);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[7];
      int n = in.readNBytes(buf, 0, 7);
      return new String(buf, 0, n, StandardCharsets.US_ASCII).startsWith("+PONG");
    } catch (IOException e) {
      return false;
    }
  }

  private static int freePort() {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
