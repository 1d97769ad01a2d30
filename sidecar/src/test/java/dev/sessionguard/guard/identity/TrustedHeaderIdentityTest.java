package dev.sessionguard.guard.identity;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sessionguard.policy.Cidr;
import dev.sessionguard.policy.SessionPolicySpec.Anonymous;
import java.util.List;
import org.junit.jupiter.api.Test;

class TrustedHeaderIdentityTest {
  @Test
  void a_user_header_is_believed_only_from_a_trusted_proxy_when_proxies_are_listed() {
    ClientIdentity trusting =
        new TrustedHeaderIdentity(
            "X-User", new ClientAddress(List.of(Cidr.parse("10.0.0.0/8"))), Anonymous.PerAddress);
    assertThat(name(trusting, "10.0.0.2")).isEqualTo("user:alice");
    assertThat(name(trusting, "192.0.2.7")).isEqualTo("anon:192.0.2.7"); // not from the proxy
    ClientIdentity open =
        new TrustedHeaderIdentity("X-User", new ClientAddress(List.of()), Anonymous.PerAddress);
    assertThat(name(open, "192.0.2.7")).isEqualTo("user:alice"); // the network decides
  }

  static String name(ClientIdentity identity, String peer) {
    var request = new RequestFacts(peer, h -> h.equals("X-User") ? "alice" : null, List.of());
    return ((Identification.Named) identity.identify(request)).client().name();
  }
}
