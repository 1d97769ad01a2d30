package dev.sessionguard.guard.config;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** {@code --policy FILE [--upstream URL] [--port N] [--admin-port N] [--host H]}. */
public record CommandLine(Path policy, GuardConfig.Overrides overrides) {

  public static final String USAGE =
      "usage: java -jar session-guard-sidecar.jar --policy FILE [--upstream URL] [--port N]"
          + " [--admin-port N] [--host ADDRESS]\n"
          + "       java -jar session-guard-sidecar.jar --training-run   (start against a stub"
          + " server, exercise, exit 0: for class-data archives)";

  /** Thrown for arguments that cannot be read; the message lists every problem. */
  public static final class BadArguments extends Exception {
    private static final long serialVersionUID = 1L;

    BadArguments(List<String> problems) {
      super(String.join("\n", problems));
    }
  }

  public static CommandLine parse(String... args) throws BadArguments {
    List<String> problems = new ArrayList<>();
    Path policy = null;
    URI upstream = null;
    Integer port = null;
    Integer adminPort = null;
    String host = null;
    java.util.Set<String> seen = new java.util.HashSet<>();
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (!flag.startsWith("--")) {
        problems.add("unexpected argument '" + flag + "' (options are --name VALUE)");
        continue;
      }
      int equals = flag.indexOf('=');
      String value;
      if (equals > 0) { // --policy=FILE, as many tools take it
        value = flag.substring(equals + 1);
        flag = flag.substring(0, equals);
      } else {
        value = i + 1 < args.length ? args[i + 1] : null;
        if (value == null || value.startsWith("--")) {
          problems.add(flag + " needs a value");
          continue;
        }
        i++;
      }
      if (!seen.add(flag)) {
        problems.add(flag + " is given more than once");
      }
      switch (flag) {
        case "--policy" -> policy = Path.of(value);
        case "--upstream" -> {
          upstream = upstream(value, problems);
        }
        case "--port" -> port = port(flag, value, problems);
        case "--admin-port" -> adminPort = port(flag, value, problems);
        case "--host" -> host = value;
        default -> problems.add("unknown option " + flag);
      }
    }
    if (policy == null) {
      problems.add("--policy FILE is required");
    }
    if (!problems.isEmpty()) {
      problems.add(USAGE);
      throw new BadArguments(problems);
    }
    return new CommandLine(policy, new GuardConfig.Overrides(upstream, port, adminPort, host));
  }

  /** An http:// URL with a host (a path, if any, is the MCP endpoint's; no query). */
  private static URI upstream(String value, List<String> problems) {
    URI uri;
    try {
      uri = new URI(value);
    } catch (java.net.URISyntaxException e) {
      problems.add("--upstream '" + value + "' is not a URL");
      return null;
    }
    if (!"http".equals(uri.getScheme()) || uri.getHost() == null) {
      problems.add(
          "--upstream must be an http:// URL with a host (the guard speaks plain HTTP to the"
              + " server beside it), got '"
              + value
              + "'");
      return null;
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      problems.add(
          "--upstream '" + value + "' holds a query or fragment: give only host, port, path");
      return null;
    }
    return uri;
  }

  private static Integer port(String flag, String value, List<String> problems) {
    try {
      int n = Integer.parseInt(value);
      if (n >= 0 && n <= 65535) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    problems.add(flag + " '" + value + "' is not a port (0-65535; 0 picks a free one)");
    return null;
  }
}
