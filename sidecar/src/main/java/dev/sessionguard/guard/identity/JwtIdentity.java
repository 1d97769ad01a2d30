package dev.sessionguard.guard.identity;

import dev.sessionguard.guard.admission.Refusal;
import dev.sessionguard.guard.config.GuardConfig.JwtRules;
import dev.sessionguard.policy.SessionPolicySpec.Anonymous;
import java.time.Clock;
import java.time.Instant;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The client is named by a claim of a verified bearer token ({@code jwt:<claim>}). A request
 * without a bearer token is anonymous; one whose token fails is refused with 401 and a challenge
 * that points at the resource metadata (RFC 9728), so a client can find its authorization server.
 */
final class JwtIdentity implements ClientIdentity {
  private static final String BEARER = "bearer ";

  private final JwtRules rules;
  private final JwtVerifier verifier;
  private final ClientAddress address;
  private final Anonymous anonymous;
  private final Supplier<String> upstreamResourceMetadata;
  private final Clock clock;
  private volatile Instant lastKeyCheck;

  JwtIdentity(
      JwtRules rules,
      ClientAddress address,
      Anonymous anonymous,
      Supplier<String> upstreamResourceMetadata,
      Clock clock) {
    this.rules = rules;
    this.address = address;
    this.anonymous = anonymous;
    this.upstreamResourceMetadata = upstreamResourceMetadata;
    this.clock = clock;
    this.verifier =
        new JwtVerifier(
            new JwtVerifier.Settings(
                rules.issuer(),
                rules.audiences(),
                rules.jwksUri(),
                rules.jwksFile(),
                rules.algorithms(),
                rules.claim(),
                rules.refreshInterval()),
            clock);
    this.lastKeyCheck = clock.instant();
  }

  @Override
  public void prefetch() {
    verifier.checkKeys();
  }

  @Override
  public Identification identify(RequestFacts request) {
    String token = bearer(request);
    if (token == null) {
      return anonymous(request);
    }
    return named(verifier.verify(token));
  }

  /** Answers at once for a request without a token and for a token verified lately. */
  @Override
  public Optional<Identification> identifyWithoutWaiting(RequestFacts request) {
    String token = bearer(request);
    if (token == null) {
      return Optional.of(anonymous(request));
    }
    return verifier.remembered(token).map(this::named);
  }

  /** The bearer token of the request, or null without one. */
  private static String bearer(RequestFacts request) {
    String authorization = request.header().apply("Authorization");
    if (authorization == null || !authorization.toLowerCase(Locale.ROOT).startsWith(BEARER)) {
      return null;
    }
    return authorization.substring(BEARER.length()).trim();
  }

  /** A request without a token, per {@code identity.anonymous}; a refusal carries the challenge. */
  private Identification anonymous(RequestFacts request) {
    Identification anon = ClientIdentity.anonymous(anonymous, address, request);
    if (anon instanceof Identification.Refused r) {
      return new Identification.Refused(r.status(), r.reason(), r.message(), challenge(null));
    }
    return anon;
  }

  private Identification named(JwtVerifier.Result result) {
    if (result instanceof JwtVerifier.Result.Verified v) {
      return new Identification.Named(new Client("jwt:" + v.client(), true, false));
    }
    if (result instanceof JwtVerifier.Result.Unavailable u) {
      return new Identification.Refused(503, Refusal.KEYS_UNAVAILABLE, u.why());
    }
    return invalid(((JwtVerifier.Result.Rejected) result).why());
  }

  private Identification invalid(String why) {
    return new Identification.Refused(
        401, Refusal.INVALID_TOKEN, why, challenge("error=\"invalid_token\""));
  }

  /** {@code Bearer [error], resource_metadata="…"}: the policy's URL, else the upstream's. */
  private String challenge(String error) {
    String metadata =
        rules.resourceMetadata() != null
            ? rules.resourceMetadata()
            : upstreamResourceMetadata.get();
    StringBuilder c = new StringBuilder("Bearer");
    if (error != null) {
      c.append(' ').append(error);
    }
    if (metadata != null) {
      c.append(error != null ? ", " : " ")
          .append("resource_metadata=\"")
          .append(metadata)
          .append('"');
    } else if (error == null) {
      c.append(" realm=\"mcp\""); // RFC 6750: the scheme is followed by at least one parameter
    }
    return c.toString();
  }

  /**
   * Why keys cannot be had. Keys not fetched yet (rules changed by a reload a moment ago: they are
   * being fetched in the background) are a problem until that fetch ends, so readiness never says
   * ready for keys nobody has seen, and never waits on the JWKS itself; a key file is looked at
   * again (at most once a second); while there is a problem, the keys are fetched again at most
   * once per refresh interval, so readiness comes back once the JWKS does, even without traffic.
   */
  @Override
  public Optional<String> problem() {
    if (rules.jwksFile() != null) {
      verifier.checkKeys(); // a file read, at most once a second
    } else if (!verifier.checked()) {
      return Optional.of("JWKS " + rules.jwksUri() + ": keys not fetched yet");
    }
    Optional<String> problem = verifier.keyProblem();
    Instant now = clock.instant();
    if (problem.isPresent() && !now.isBefore(lastKeyCheck.plus(rules.refreshInterval()))) {
      lastKeyCheck = now;
      verifier.checkKeys();
      problem = verifier.keyProblem();
    }
    return problem;
  }
}
