package dev.sessionguard.guard;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.encoder.Encoder;
import ch.qos.logback.core.spi.ContextAwareBase;
import java.util.List;
import org.slf4j.Logger;

/**
 * The guard's log output, set up in code (logback finds it through {@code META-INF/services}):
 * parsing an XML configuration at start cost several hundred classes and a good part of a second.
 *
 * <p>One line per event on stdout, or one JSON object per line when {@value #ENV} is {@code json}.
 * The JSON carries the formatted message only: no raw arguments, MDC or key-value pairs, so what
 * reaches a log pipeline is exactly the line the guard chose to write (never a token).
 *
 * <p>A {@code logback.xml} or {@code logback-test.xml} on the class path, or {@code
 * -Dlogback.configurationFile}, still wins: logback's own configurators then read it.
 */
public final class LogFormat extends ContextAwareBase implements Configurator {
  /** {@code json} selects JSON lines; anything else, plain lines. */
  public static final String ENV = "SESSIONGUARD_LOG_FORMAT";

  /** The plain line: ISO-8601 time in UTC, level, the logger's simple name, the message. */
  static final String PATTERN =
      "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX, UTC} %-5level %logger{0} - %msg%n";

  // Libraries whose INFO lines say nothing an operator of the guard needs.
  private static final List<String> QUIET =
      List.of("org.eclipse.jetty", "io.javalin", "io.lettuce", "io.netty");

  private static final List<String> CONFIGURATION_FILES =
      List.of("logback-test.xml", "logback.xml");

  /** For the ServiceLoader. */
  public LogFormat() {}

  @Override
  public ExecutionStatus configure(LoggerContext context) {
    if (configuredElsewhere()) {
      return ExecutionStatus.INVOKE_NEXT_IF_ANY;
    }
    Encoder<ILoggingEvent> encoder = json(System.getenv(ENV)) ? jsonLines() : plainLines();
    encoder.setContext(context);
    encoder.start();
    ConsoleAppender<ILoggingEvent> stdout = new ConsoleAppender<>();
    stdout.setContext(context);
    stdout.setName("STDOUT");
    stdout.setEncoder(encoder);
    stdout.start();
    for (String name : QUIET) {
      context.getLogger(name).setLevel(Level.WARN);
    }
    ch.qos.logback.classic.Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.setLevel(Level.INFO);
    root.addAppender(stdout);
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }

  static boolean json(String format) {
    return "json".equalsIgnoreCase(format);
  }

  private static boolean configuredElsewhere() {
    if (System.getProperty("logback.configurationFile") != null) {
      return true;
    }
    ClassLoader loader = LogFormat.class.getClassLoader();
    return CONFIGURATION_FILES.stream().anyMatch(file -> loader.getResource(file) != null);
  }

  private static Encoder<ILoggingEvent> plainLines() {
    PatternLayoutEncoder encoder = new PatternLayoutEncoder();
    encoder.setPattern(PATTERN);
    return encoder;
  }

  private static Encoder<ILoggingEvent> jsonLines() {
    JsonEncoder encoder = new JsonEncoder();
    // timestamp, level, threadName, loggerName, markers, throwable and formattedMessage
    encoder.setWithSequenceNumber(false);
    encoder.setWithNanoseconds(false);
    encoder.setWithContext(false);
    encoder.setWithMDC(false);
    encoder.setWithKVPList(false);
    encoder.setWithArguments(false);
    encoder.setWithMessage(false);
    encoder.setWithFormattedMessage(true);
    return encoder;
  }
}
