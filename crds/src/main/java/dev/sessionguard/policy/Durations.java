package dev.sessionguard.policy;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.regex.Matcher;

/**
 * Durations in the syntax the API server's CEL {@code duration()} accepts: one or more number-unit
 * pairs, units {@code ns us ms s m h} ({@code 300ms}, {@code 1h30m}, {@code 1.5h}).
 */
public final class Durations {
  /** The schema pattern; the CRD enforces it at admission time. */
  public static final String PATTERN = "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$";

  private static final java.util.regex.Pattern WHOLE = java.util.regex.Pattern.compile(PATTERN);
  private static final java.util.regex.Pattern PART =
      java.util.regex.Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ns|us|ms|s|m|h)");

  private Durations() {}

  /** True when {@code text} is a duration this class (and the API server) can read. */
  public static boolean isValid(String text) {
    return text != null && WHOLE.matcher(text).matches();
  }

  /**
   * Reads a duration.
   *
   * @throws IllegalArgumentException when the text is not in the accepted syntax
   */
  public static Duration parse(String text) {
    if (!isValid(text)) {
      throw new IllegalArgumentException(
          "'" + text + "' is not a duration such as 300ms, 30s, 5m or 24h");
    }
    BigDecimal nanos = BigDecimal.ZERO;
    Matcher m = PART.matcher(text);
    while (m.find()) {
      nanos =
          nanos.add(new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(unitNanos(m.group(2)))));
    }
    return Duration.ofNanos(nanos.longValueExact());
  }

  private static long unitNanos(String unit) {
    return switch (unit) {
      case "ns" -> 1L;
      case "us" -> 1_000L;
      case "ms" -> 1_000_000L;
      case "s" -> 1_000_000_000L;
      case "m" -> 60_000_000_000L;
      case "h" -> 3_600_000_000_000L;
      default -> throw new IllegalArgumentException("unknown unit " + unit);
    };
  }
}
