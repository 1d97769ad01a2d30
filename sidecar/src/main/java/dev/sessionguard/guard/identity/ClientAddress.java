package dev.sessionguard.guard.identity;

import dev.sessionguard.policy.Cidr;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The client's address: the TCP peer, unless that peer is a trusted proxy, in which case the last
 * untrusted hop of {@code X-Forwarded-For} (read right to left; a hop that is not an address ends
 * the walk, so a forged list cannot name someone else). A hop with a port, as some load balancers
 * write them ({@code 203.0.113.9:4711}, {@code [2001:db8::1]:443}), names its address without it.
 */
public final class ClientAddress {
  private final List<Cidr> trusted;
  private final int ipv6Prefix;

  public ClientAddress(List<Cidr> trusted) {
    this(trusted, 128);
  }

  /**
   * @param ipv6Prefix how much of an IPv6 client address names the client ({@link #name})
   */
  public ClientAddress(List<Cidr> trusted, int ipv6Prefix) {
    this.trusted = List.copyOf(trusted);
    this.ipv6Prefix = ipv6Prefix;
  }

  /**
   * The client's address as a client name: {@link #of}, an IPv6 address cut to the prefix length
   * asked for ({@code 2001:db8:1:2:0:0:0:0/64}), since a single host may hold a whole network.
   */
  public String name(RequestFacts request) {
    String address = of(request);
    if (ipv6Prefix >= 128) {
      return address;
    }
    InetAddress a = literal(address);
    if (!(a instanceof java.net.Inet6Address)) {
      return address; // IPv4, IPv4-mapped IPv6 among them
    }
    byte[] bytes = a.getAddress();
    for (int bit = ipv6Prefix; bit < 128; bit++) {
      bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
    }
    try {
      return InetAddress.getByAddress(bytes).getHostAddress() + "/" + ipv6Prefix;
    } catch (UnknownHostException e) {
      throw new IllegalStateException("16 bytes are an IPv6 address", e);
    }
  }

  public String of(RequestFacts request) {
    String peer = request.remoteAddress();
    if (trusted.isEmpty() || !isTrusted(peer)) {
      return peer;
    }
    List<String> hops = new ArrayList<>();
    for (String value : request.forwardedFor()) {
      for (String hop : value.split(",")) {
        if (!hop.isBlank()) {
          hops.add(hop.trim());
        }
      }
    }
    String client = peer;
    for (int i = hops.size() - 1; i >= 0; i--) {
      String hop = withoutPort(hops.get(i));
      if (!isLiteralAddress(hop)) {
        break;
      }
      client = hop;
      if (!isTrusted(hop)) {
        break;
      }
    }
    return client;
  }

  /**
   * Whether the request may carry what a proxy in front sets: always when no proxy is listed (then
   * the network decides who reaches the guard), else only from a listed one.
   */
  public boolean mayCarryProxyHeaders(RequestFacts request) {
    return mayCarryProxyHeaders(trusted, request.remoteAddress());
  }

  /** {@link #mayCarryProxyHeaders(RequestFacts)} for a peer, with these trusted proxies. */
  public static boolean mayCarryProxyHeaders(List<Cidr> trusted, String peer) {
    return trusted.isEmpty() || within(trusted, peer);
  }

  private boolean isTrusted(String address) {
    return within(trusted, address);
  }

  /** Whether {@code address} (a literal, IPv6 possibly in brackets) is in one of {@code cidrs}. */
  private static boolean within(List<Cidr> cidrs, String address) {
    InetAddress a = literal(address);
    return a != null && cidrs.stream().anyMatch(c -> c.contains(a));
  }

  private static boolean isLiteralAddress(String text) {
    return literal(text) != null;
  }

  /** {@code hop} without a port: {@code a.b.c.d:port} and {@code [v6]:port} lose it. */
  static String withoutPort(String hop) {
    var v4 = IPV4_PORT.matcher(hop);
    if (v4.matches()) {
      return v4.group(1);
    }
    var v6 = IPV6_PORT.matcher(hop);
    return v6.matches() ? v6.group(1) : hop;
  }

  private static final String OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
  private static final String DOTTED_QUAD = OCTET + "(?:\\." + OCTET + "){3}";
  private static final Pattern IPV4 = Pattern.compile(DOTTED_QUAD);
  private static final Pattern IPV4_PORT = Pattern.compile("(" + DOTTED_QUAD + "):\\d{1,5}");
  // a colon somewhere, and a hex digit or a colon first: InetAddress parses such text as a literal
  // (or refuses it), never as a name to look up
  private static final Pattern IPV6 = Pattern.compile("(?=[^:]*:)[0-9a-fA-F:][0-9a-fA-F:.]*");
  private static final Pattern IPV6_PORT = Pattern.compile("\\[([0-9a-fA-F:.]+)\\]:\\d{1,5}");

  private static InetAddress literal(String text) {
    if (text != null && text.length() > 2 && text.startsWith("[") && text.endsWith("]")) {
      text = text.substring(1, text.length() - 1); // Jetty names an IPv6 peer [fd00::1]
    }
    // Only a dotted quad or text with a colon: InetAddress parses those as literals, and would
    // send anything else (a hop such as cafe.be) to the resolver.
    if (text == null || !(IPV4.matcher(text).matches() || IPV6.matcher(text).matches())) {
      return null; // never a DNS lookup
    }
    try {
      return InetAddress.getByName(text);
    } catch (UnknownHostException e) {
      return null;
    }
  }
}
