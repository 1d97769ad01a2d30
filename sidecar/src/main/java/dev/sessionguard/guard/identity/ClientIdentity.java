package dev.sessionguard.guard.identity;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.config.GuardConfig.IdentityRules;
import dev.sessionguard.policy.SessionPolicySpec.Anonymous;
import java.time.Clock;
import java.util.Optional;
import java.util.function.Supplier;

/** Names the client of a request. One implementation per {@code identity.source}. */
public interface ClientIdentity {

  Identification identify(RequestFacts request);

  /**
   * {@link #identify} when it can be answered without waiting on anything (a key fetch, a network
   * call); empty when it cannot, and the request must be identified where waiting is allowed.
   */
  default Optional<Identification> identifyWithoutWaiting(RequestFacts request) {
    return Optional.of(identify(request));
  }

  /**
   * Fetches what {@link #identify} will need (signing keys), so readiness knows before the first
   * token. May wait on the network: never called under a lock or on a request's thread.
   */
  default void prefetch() {}

  /** Why clients cannot be named right now (e.g. no signing keys), for readiness. */
  default Optional<String> problem() {
    return Optional.empty();
  }

  /**
   * The identity step a policy asks for.
   *
   * @param upstreamResourceMetadata the {@code resource_metadata} of the upstream's latest 401
   *     challenge, or null; used when the policy names none
   */
  static ClientIdentity of(
      IdentityRules rules, Clock clock, Supplier<String> upstreamResourceMetadata) {
    ClientAddress address = new ClientAddress(rules.trustedProxies(), rules.ipv6PrefixLength());
    return switch (rules.source()) {
      case Header -> new TrustedHeaderIdentity(rules.header(), address, rules.anonymous());
      case Address -> request -> named("addr:" + address.name(request), false);
      case Jwt ->
          new JwtIdentity(rules.jwt(), address, rules.anonymous(), upstreamResourceMetadata, clock);
    };
  }

  /** What a request without a name gets, per {@code identity.anonymous}. */
  static Identification anonymous(Anonymous mode, ClientAddress address, RequestFacts request) {
    return switch (mode) {
      case PerAddress -> named("anon:" + address.name(request), false);
      case Shared -> named("anonymous", false);
      case Exempt -> new Identification.Named(new Client("anonymous", false, true));
      case Reject ->
          new Identification.Refused(401, Refusal.ANONYMOUS, "This server requires a client name");
    };
  }

  private static Identification named(String name, boolean verified) {
    return new Identification.Named(new Client(name, verified, false));
  }
}
