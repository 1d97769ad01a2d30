package dev.sessionguard.guard;

import dev.sessionguard.guard.config.CommandLine;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyValidator;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.slf4j.LoggerFactory;

/** {@code java -jar session-guard-sidecar.jar --policy FILE [overrides]}. */
public final class Main {
  // The longest a policy change can go unseen when no file event arrives.
  private static final Duration POLICY_POLL = Duration.ofSeconds(2);

  /** The exit code of a guard that restarts to take up its pod's start settings. */
  static final int RESTART_EXIT = 3;

  private static final String JETTY_REFERENCES_PER_CACHE_LINE =
      "org.eclipse.jetty.util.referencesPerCacheLine";

  private Main() {}

  /** Starts a guard from a valid configuration. */
  @FunctionalInterface
  interface Start {
    /**
     * @param config the configuration to run
     * @param line the command line it came from
     * @param loaded the policy file's bytes it was built from
     */
    void start(GuardConfig config, CommandLine line, byte[] loaded);
  }

  public static void main(String[] args) {
    if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
      System.out.println(CommandLine.USAGE);
      return;
    }
    startUpSettings();
    if (List.of(args).contains(TrainingRun.FLAG)) {
      if (args.length > 1) {
        System.err.println(TrainingRun.FLAG + " takes no other options");
        System.err.println(CommandLine.USAGE);
        System.exit(2);
      }
      System.exit(TrainingRun.run(System.err));
    }
    int code =
        run(
            args,
            System.err,
            (config, line, loaded) -> {
              Guard guard;
              try {
                guard = launch(config, line, loaded);
              } catch (IllegalArgumentException e) { // a setting of the environment's
                System.err.println(e.getMessage());
                System.exit(2);
                return;
              }
              Runtime.getRuntime()
                  .addShutdownHook(
                      new Thread(
                          () -> {
                            guard.drain();
                            // SIGTERM would exit 143; a completed drain is a clean exit.
                            Runtime.getRuntime().halt(0);
                          },
                          "guard-drain"));
            });
    if (code != 0) {
      System.exit(code);
    }
  }

  /** Starts the guard, watches its policy file, and says so in the log. */
  static Guard launch(GuardConfig config, CommandLine line, byte[] loaded) {
    Guard guard = Guard.start(config, Clock.systemUTC());
    guard.onRestartNeeded(
        () ->
            new Thread(
                    () -> {
                      guard.drain();
                      // not 0: the kubelet restarts the container either way, and the pod's
                      // restart count shows it happened
                      Runtime.getRuntime().halt(RESTART_EXIT);
                    },
                    "guard-restart")
                .start());
    guard.watch(line.policy(), loaded, line.overrides(), POLICY_POLL);
    LoggerFactory.getLogger(Main.class)
        .info(
            "started policy={} hash={} mode={} listen={}:{} admin={} upstream={}",
            config.policy().name(),
            config.policy().hash(),
            config.policy().mode(),
            config.listen().host(),
            guard.port(),
            guard.adminPort(),
            config.mcpUrl());
    return guard;
  }

  /**
   * Settings libraries read once, set before they are first used. Without this one Jetty asks the
   * platform MBean server whether oops are compressed, to pad its queues to a cache line: that
   * starts JMX and every platform MXBean, some 400 classes never used again. 16 (4-byte references
   * on a 64-byte line) is Jetty's own fallback, and right for any heap below 32 GB, where the JVM
   * compresses oops.
   */
  static void startUpSettings() {
    if (System.getProperty(JETTY_REFERENCES_PER_CACHE_LINE) == null) {
      System.setProperty(JETTY_REFERENCES_PER_CACHE_LINE, "16");
    }
  }

  /**
   * Reads the arguments and the policy; hands a valid configuration to {@code start}. Returns the
   * exit code: 0 started, 1 invalid policy (every problem listed), 2 bad arguments.
   */
  static int run(String[] args, PrintStream err, Start start) {
    CommandLine line;
    try {
      line = CommandLine.parse(args);
    } catch (CommandLine.BadArguments e) {
      err.println(e.getMessage());
      return 2;
    }
    GuardConfig config;
    byte[] loaded;
    try {
      loaded = read(line.policy());
      PolicyFile file =
          PolicyFile.parse(
              new String(loaded, StandardCharsets.UTF_8), PolicyValidator.Mode.STANDALONE);
      config = GuardConfig.of(file, line.overrides(), Clock.systemUTC().instant());
    } catch (InvalidPolicyException e) {
      err.println("invalid policy " + line.policy() + ":");
      e.problems().forEach(p -> err.println("  - " + p));
      return 1;
    } catch (RuntimeException e) { // a value the validator let through
      err.println("invalid policy " + line.policy() + ":");
      err.println("  - cannot apply it: " + Failures.describe(e));
      return 1;
    }
    start.start(config, line, loaded);
    return 0;
  }

  private static byte[] read(Path file) throws InvalidPolicyException {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      String why =
          e instanceof java.nio.file.NoSuchFileException
              ? "no such file"
              : e instanceof java.nio.file.AccessDeniedException
                  ? "permission denied"
                  : e.toString();
      throw new InvalidPolicyException(List.of("cannot read " + file + ": " + why));
    }
  }
}
