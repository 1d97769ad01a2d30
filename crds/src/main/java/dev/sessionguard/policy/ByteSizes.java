package dev.sessionguard.policy;

/** Byte sizes written as a plain number or with a binary suffix: {@code 512}, {@code 16Ki}. */
public final class ByteSizes {
  private static final java.util.regex.Pattern SIZE =
      java.util.regex.Pattern.compile("^([0-9]+)(Ki|Mi|Gi)?$");

  private ByteSizes() {}

  /** True when {@code text} is a size this class can read. */
  public static boolean isValid(String text) {
    if (text == null || !SIZE.matcher(text).matches()) {
      return false;
    }
    try {
      parse(text);
      return true;
    } catch (ArithmeticException | NumberFormatException e) {
      return false;
    }
  }

  /**
   * Reads a size in bytes.
   *
   * @throws IllegalArgumentException when the text is not a size
   */
  public static long parse(String text) {
    var m = text == null ? null : SIZE.matcher(text);
    if (m == null || !m.matches()) {
      throw new IllegalArgumentException("'" + text + "' is not a size such as 4Mi or 16Ki");
    }
    long n = Long.parseLong(m.group(1));
    String unit = m.group(2);
    long factor =
        unit == null
            ? 1
            : switch (unit) {
              case "Ki" -> 1L << 10;
              case "Mi" -> 1L << 20;
              default -> 1L << 30;
            };
    return Math.multiplyExact(n, factor);
  }
}
