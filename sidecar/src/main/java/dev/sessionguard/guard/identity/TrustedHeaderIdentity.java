package dev.sessionguard.guard.identity;

import dev.sessionguard.policy.SessionPolicySpec.Anonymous;

/**
 * The client is named by a header an authenticating proxy in front of the guard sets. With {@code
 * identity.trustedProxies} listed, only a request from one of them is named by it: the header of
 * any other sender is not believed (the request is anonymous), or anyone who reaches the guard
 * could name themselves anyone.
 */
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
    String value = address.mayCarryProxyHeaders(request) ? request.header().apply(header) : null;
    if (value == null || value.isBlank()) {
      return ClientIdentity.anonymous(anonymous, address, request);
    }
    return new Identification.Named(new Client("user:" + value.trim(), true, false));
  }
}
