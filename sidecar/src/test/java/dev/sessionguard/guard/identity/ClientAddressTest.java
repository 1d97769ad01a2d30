package dev.sessionguard.guard.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.policy.Cidr;
import java.util.List;
import org.junit.jupiter.api.Test;

class ClientAddressTest {
  static RequestFacts from(String peer, String... forwardedFor) {
    return new RequestFacts(peer, h -> null, List.of(forwardedFor));
  }

  @Test
  void an_untrusted_peer_is_the_client_whatever_it_forwards() {
    ClientAddress a = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")));
    assertThat(a.of(from("192.0.2.7", "203.0.113.9"))).isEqualTo("192.0.2.7");
  }

  @Test
  void a_trusted_proxy_names_the_last_untrusted_hop() {
    ClientAddress a = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")));
    assertThat(a.of(from("10.0.0.2", "198.51.100.1, 203.0.113.9, 10.0.0.5")))
        .isEqualTo("203.0.113.9");
  }

  @Test
  void a_garbage_hop_stops_the_walk() {
    ClientAddress a = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")));
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, not-an-ip"))).isEqualTo("10.0.0.2");
  }

  @Test
  void a_hop_that_only_looks_like_hex_is_no_address_and_is_never_resolved() {
    ClientAddress a = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")));
    // host names made of hex letters: the walk stops there, no DNS lookup is made
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, cafe.be"))).isEqualTo("10.0.0.2");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, dead.beef"))).isEqualTo("10.0.0.2");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, 127.1"))).isEqualTo("10.0.0.2");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, 256.1.1.1"))).isEqualTo("10.0.0.2");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, .:"))).isEqualTo("10.0.0.2");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, 255.255.255.254"))).isEqualTo("255.255.255.254");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, ::FFFF:198.51.100.7")))
        .isEqualTo("::FFFF:198.51.100.7");
  }

  @Test
  void a_hop_with_a_port_names_its_address() {
    ClientAddress a = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")));
    assertThat(a.of(from("10.0.0.2", "203.0.113.9:4711"))).isEqualTo("203.0.113.9");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9:4712"))).isEqualTo("203.0.113.9");
    assertThat(a.of(from("10.0.0.2", "[2001:db8::1]:443"))).isEqualTo("2001:db8::1");
    assertThat(a.of(from("10.0.0.2", "203.0.113.9, 10.0.0.5:80"))).isEqualTo("203.0.113.9");
  }

  @Test
  void an_ipv6_client_may_be_named_by_its_network() {
    ClientAddress whole = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")));
    ClientAddress by64 = new ClientAddress(List.of(Cidr.parse("10.0.0.0/8")), 64);
    // one host may send from any address of its /64: by its network it is one client
    for (String hop : List.of("2001:db8:1:2::1", "2001:db8:1:2:ffff:eeee:dddd:cccc")) {
      assertThat(by64.name(from("10.0.0.2", hop))).isEqualTo("2001:db8:1:2:0:0:0:0/64");
    }
    assertThat(by64.name(from("10.0.0.2", "2001:db8:1:3::1"))).isEqualTo("2001:db8:1:3:0:0:0:0/64");
    assertThat(whole.name(from("10.0.0.2", "2001:db8:1:2::1"))).isEqualTo("2001:db8:1:2::1");
    // IPv4 (mapped too) and a peer as Jetty names it
    assertThat(by64.name(from("10.0.0.2", "203.0.113.9"))).isEqualTo("203.0.113.9");
    assertThat(by64.name(from("[2001:db8:9:9::5]"))).isEqualTo("2001:db8:9:9:0:0:0:0/64");
    assertThat(by64.name(from("10.0.0.2", "::ffff:203.0.113.9"))).isEqualTo("::ffff:203.0.113.9");
  }

  @Test
  void without_trusted_proxies_forwarded_for_is_ignored() {
    assertThat(new ClientAddress(List.of()).of(from("192.0.2.7", "203.0.113.9")))
        .isEqualTo("192.0.2.7");
  }

  @Test
  void an_ipv6_peer_as_jetty_names_it_is_matched_against_the_trusted_proxies() {
    ClientAddress a = new ClientAddress(List.of(Cidr.parse("fd00::/8")));
    assertThat(a.of(from("[fd00::1]", "203.0.113.9"))).isEqualTo("203.0.113.9");
    assertThat(a.mayCarryProxyHeaders(from("[fd00::1]"))).isTrue();
    assertThat(a.mayCarryProxyHeaders(from("[2001:db8::1]"))).isFalse();
  }
}
