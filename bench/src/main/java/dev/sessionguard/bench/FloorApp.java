package dev.sessionguard.bench;

import io.javalin.Javalin;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * The floors the guard's footprint is measured against (bench/footprint.sh), run on the image's
 * Java runtime with its flags, each with a cache of its own training run:
 *
 * <ul>
 *   <li>{@code jvm}: a JVM that only sleeps — what the runtime costs before any program;
 *   <li>{@code javalin PORT}: one Javalin app on loopback answering {@code GET /readyz}, with the
 *       guard's Javalin, Jetty and logging (the guard's jar on the class path, its logging
 *       configuration included) — what the web framework costs before the guard's own code.
 * </ul>
 *
 * <p>{@code --training-run} after the name: starts it, exercises it and exits, for the cache.
 */
public final class FloorApp {
  private static final String TRAINING_RUN = "--training-run";

  private FloorApp() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    boolean training = args[args.length - 1].equals(TRAINING_RUN);
    switch (args[0]) {
      case "jvm" -> {
        if (!training) {
          Thread.sleep(Long.MAX_VALUE);
        }
      }
      case "javalin" -> javalin(training ? 0 : Integer.parseInt(args[1]), training);
      default -> throw new IllegalArgumentException("usage: FloorApp jvm|javalin PORT");
    }
  }

  private static void javalin(int port, boolean training) throws IOException {
    Javalin app =
        Javalin.create(
                c -> {
                  c.startup.showJavalinBanner = false;
                  c.startup.showOldJavalinVersionWarning = false;
                  c.jetty.host = "127.0.0.1";
                  c.jetty.port = port;
                  c.routes.get("/readyz", ctx -> ctx.result("ready"));
                })
            .start();
    if (training) {
      try {
        for (int i = 0; i < 100; i++) {
          readyz(app.port());
        }
      } finally {
        app.stop();
      }
    }
  }

  private static void readyz(int port) throws IOException {
    try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), port)) {
      OutputStream out = socket.getOutputStream();
      out.write(
          "GET /readyz HTTP/1.1\r\nHost: floor\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = socket.getInputStream();
      String answer = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
      if (!answer.startsWith("HTTP/1.1 200")) {
        throw new IOException("GET /readyz: " + answer);
      }
    }
  }
}
