package dev.sessionguard.policy;

import java.net.InetAddress;
import java.net.UnknownHostException;

/** An IPv4 or IPv6 network in CIDR notation, for trusted proxy lists. */
public record Cidr(byte[] network, int prefix) {

  /** True when {@code text} is a literal address with a prefix length, such as 10.0.0.0/8. */
  public static boolean isValid(String text) {
    try {
      parse(text);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /**
   * Reads a CIDR; a bare address is a network of one.
   *
   * @throws IllegalArgumentException when the text is not a CIDR
   */
  public static Cidr parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("empty CIDR");
    }
    String[] parts = text.split("/", -1);
    if (parts.length > 2 || !parts[0].matches("^[0-9a-fA-F:.]+$")) {
      throw new IllegalArgumentException("not a CIDR: " + text);
    }
    byte[] address;
    try {
      address = InetAddress.getByName(parts[0]).getAddress(); // literal only: checked above
    } catch (UnknownHostException e) {
      throw new IllegalArgumentException("not an address: " + parts[0], e);
    }
    int bits = address.length * 8;
    int prefix;
    try {
      prefix = parts.length == 2 ? Integer.parseInt(parts[1]) : bits;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a prefix length: " + parts[1], e);
    }
    if (prefix < 0 || prefix > bits) {
      throw new IllegalArgumentException("prefix out of range: " + text);
    }
    return new Cidr(address, prefix);
  }

  /** True when {@code address} lies in this network. */
  public boolean contains(InetAddress address) {
    byte[] a = address.getAddress();
    if (a.length != network.length) {
      return false;
    }
    int full = prefix / 8;
    for (int i = 0; i < full; i++) {
      if (a[i] != network[i]) {
        return false;
      }
    }
    int rest = prefix % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xFF << (8 - rest)) & 0xFF;
    return (a[full] & mask) == (network[full] & mask);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Cidr c && prefix == c.prefix && java.util.Arrays.equals(network, c.network);
  }

  @Override
  public int hashCode() {
    return 31 * java.util.Arrays.hashCode(network) + prefix;
  }

  @Override
  public String toString() {
    try {
      return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e);
    }
  }
}
