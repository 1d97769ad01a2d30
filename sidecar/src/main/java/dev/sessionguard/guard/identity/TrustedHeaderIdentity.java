package dev.sessionguard.guard.identity;

import dev.sessionguard.policy.SessionPolicySpec.Anonymous;

/** The client is named by a header an authenticating proxy in front of the guard sets. */
final class TrustedHeaderIdentity implements ClientIdentity {
  private final String header;
  private final ClientAddress address;
  private final Anonymous anonymous;

  TrustedHeaderIdentity(String header, ClientAddress address, Anonymous anonymous) {
    this.header = header;
    this.address = address;
    this.anonymous = anonymous;
  }

  @Override
  public Identification identify(RequestFacts request) {
    String value = request.header().apply(header);
    if (value == null || value.isBlank()) {
      return ClientIdentity.anonymous(anonymous, address, request);
    }
    return new Identification.Named(new Client("user:" + value.trim(), true, false));
  }
}
