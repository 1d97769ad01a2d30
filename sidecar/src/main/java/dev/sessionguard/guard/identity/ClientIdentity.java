package dev.sessionguard.guard.identity;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.config.GuardConfig.IdentityRules;
import dev.sessionguard.policy.SessionPolicySpec.Anonymous;

/**
 * Names the client of a request. One implementation per {@code identity.source}; a verified-JWT one
 * slots in beside them.
 */
public interface ClientIdentity {

  Identification identify(RequestFacts request);

  /** The identity step a policy asks for. */
  static ClientIdentity of(IdentityRules rules) {
    ClientAddress address = new ClientAddress(rules.trustedProxies());
    return switch (rules.source()) {
      case Header -> new TrustedHeaderIdentity(rules.header(), address, rules.anonymous());
      case Address -> request -> named("addr:" + address.of(request), false);
      case Jwt -> throw new IllegalArgumentException("Jwt identity is not available yet");
    };
  }

  /** What a request without a name gets, per {@code identity.anonymous}. */
  static Identification anonymous(Anonymous mode, ClientAddress address, RequestFacts request) {
    return switch (mode) {
      case PerAddress -> named("anon:" + address.of(request), false);
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
