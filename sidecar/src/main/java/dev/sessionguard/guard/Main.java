package dev.sessionguard.guard;

import dev.sessionguard.guard.config.CommandLine;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyValidator;
import java.io.PrintStream;
import java.time.Clock;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code java -jar session-guard-sidecar.jar --policy FILE [overrides]}. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    int code =
        run(
            args,
            System.err,
            config -> {
              Logger log = LoggerFactory.getLogger(Main.class);
              Guard guard = Guard.start(config, Clock.systemUTC());
              Runtime.getRuntime().addShutdownHook(new Thread(guard::close, "guard-stop"));
              log.info(
                  "started policy={} hash={} mode={} listen={}:{} admin={} upstream={}",
                  config.policy().name(),
                  config.policy().hash(),
                  config.policy().mode(),
                  config.listen().host(),
                  guard.port(),
                  guard.adminPort(),
                  config.mcpUrl());
            });
    if (code != 0) {
      System.exit(code);
    }
  }

  /**
   * Reads the arguments and the policy; hands a valid configuration to {@code start}. Returns the
   * exit code: 0 started, 1 invalid policy (every problem listed), 2 bad arguments.
   */
  static int run(String[] args, PrintStream err, Consumer<GuardConfig> start) {
    CommandLine line;
    try {
      line = CommandLine.parse(args);
    } catch (CommandLine.BadArguments e) {
      err.println(e.getMessage());
      return 2;
    }
    GuardConfig config;
    try {
      PolicyFile file = PolicyFile.load(line.policy(), PolicyValidator.Mode.STANDALONE);
      config = GuardConfig.of(file, line.overrides(), Clock.systemUTC().instant());
    } catch (InvalidPolicyException e) {
      err.println("invalid policy " + line.policy() + ":");
      e.problems().forEach(p -> err.println("  - " + p));
      return 1;
    }
    start.accept(config);
    return 0;
  }
}
