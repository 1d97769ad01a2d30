package dev.sessionguard.guard.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A real nginx on a free loopback port, as a plain reverse proxy in front of a guard (what an
 * ingress controller is): HTTP/1.1 with keep-alive to the guard, X-Forwarded-For appended, and
 * nginx's default response buffering left on. Skips the test when nginx is missing.
 */
public final class NginxServer implements AutoCloseable {
  private final Process process;
  private final int port;
  private final Path dir;

  private NginxServer(Process process, int port, Path dir) {
    this.process = process;
    this.port = port;
    this.dir = dir;
  }

  /** Starts nginx proxying every path to {@code 127.0.0.1:target}; files go under {@code dir}. */
  public static NginxServer proxyTo(int target, Path dir) throws IOException {
    Path binary = External.requireBinary("nginx");
    int port = freePort();
    String conf =
        """
        daemon off;
        master_process off;
        worker_processes 1;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log warn;
        events { worker_connections 256; }
        http {
          access_log off;
          client_body_temp_path %1$s/body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          upstream guard {
            server 127.0.0.1:%2$d;
            keepalive 8;
          }
          server {
            listen 127.0.0.1:%3$d;
            location / {
              proxy_pass http://guard;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
              proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
              proxy_read_timeout 60s;
            }
          }
        }
        """
            .formatted(dir, target, port);
    Path file = dir.resolve("nginx.conf");
    Files.writeString(file, conf);
    Process process =
        new ProcessBuilder(binary.toString(), "-p", dir.toString(), "-c", file.toString())
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("stdout.log").toFile())
            .start();
    NginxServer nginx = new NginxServer(process, port, dir);
    await()
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> nginx.accepts() || !process.isAlive());
    if (!process.isAlive()) {
      throw new IllegalStateException("nginx exited: " + nginx.log());
    }
    return nginx;
  }

  public URI url(String path) {
    return URI.create("http://127.0.0.1:" + port + path);
  }

  /** nginx's error log and output, for failures. */
  public String log() {
    try {
      return Files.readString(dir.resolve("stdout.log"))
          + (Files.exists(dir.resolve("error.log"))
              ? Files.readString(dir.resolve("error.log"))
              : "");
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private boolean accepts() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
