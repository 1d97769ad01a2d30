package dev.sessionguard.policy;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
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

  /** The longest duration the API server reads: 2^63-1 nanoseconds. */
  private static final String MAX_TEXT = "2562047h47m16.854775807s";

  private Durations() {}

  /** True when {@code text} is a duration this class (and the API server) can read. */
  public static boolean isValid(String text) {
    return text != null && WHOLE.matcher(text).matches();
  }

  /**
   * Reads a duration. A fraction of a nanosecond is dropped, as the API server's {@code duration()}
   * drops it.
   *
   * @throws IllegalArgumentException when the text is not in the accepted syntax, or longer than
   *     the longest duration the API server reads (2^63-1 ns, about 292 years)
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
    BigInteger whole = nanos.setScale(0, RoundingMode.DOWN).toBigIntegerExact();
    if (whole.bitLength() >= Long.SIZE) {
      throw new IllegalArgumentException("'" + text + "' is longer than " + MAX_TEXT);
    }
    return Duration.ofNanos(whole.longValue());
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
