package dev.sessionguard.guard.testing;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Programs some tests need from the machine (redis-server, nginx): a test that lacks one is skipped
 * with a message saying what to install, unless {@code SESSIONGUARD_REQUIRE_EXTERNALS=true} (CI),
 * where it fails instead.
 */
public final class External {
  private External() {}

  /** The path of {@code binary} on PATH; skips (or, when externals are required, fails) if none. */
  public static Path requireBinary(String binary) {
    Optional<Path> found = onPath(binary);
    if (found.isEmpty()) {
      String message =
          binary
              + " is not on PATH: install it (Debian: apt-get install "
              + packageOf(binary)
              + ") to run this test";
      if (required()) {
        Assertions.fail(message + " (SESSIONGUARD_REQUIRE_EXTERNALS=true)");
      }
      System.err.println("SKIPPED: " + message);
      Assumptions.abort(message);
    }
    return found.get();
  }

  /** True when missing programs fail tests instead of skipping them. */
  public static boolean required() {
    return "true".equalsIgnoreCase(System.getenv("SESSIONGUARD_REQUIRE_EXTERNALS"));
  }

  static Optional<Path> onPath(String binary) {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String dir : path.split(File.pathSeparator)) {
      Path candidate = Path.of(dir, binary);
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  private static String packageOf(String binary) {
    return switch (binary) {
      case "redis-server" -> "redis-server";
      case "nginx" -> "nginx";
      default -> binary;
    };
  }
}
