package dev.sessionguard.guard;

import dev.sessionguard.guard.config.CommandLine;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.policy.InvalidPolicyException;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyValidator;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@code java -jar session-guard-sidecar.jar --policy FILE [overrides]}. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    CommandLine line;
    try {
      line = CommandLine.parse(args);
    } catch (CommandLine.BadArguments e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    Clock clock = Clock.systemUTC();
    GuardConfig config;
    try {
      PolicyFile file = PolicyFile.load(line.policy(), PolicyValidator.Mode.STANDALONE);
      config = GuardConfig.of(file, line.overrides(), clock.instant());
    } catch (InvalidPolicyException e) {
      System.err.println("invalid policy " + line.policy() + ":");
      e.problems().forEach(p -> System.err.println("  - " + p));
      System.exit(1);
      return;
    }
    Logger log = LoggerFactory.getLogger(Main.class);
    Guard guard = Guard.start(config, clock);
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
  }
}
