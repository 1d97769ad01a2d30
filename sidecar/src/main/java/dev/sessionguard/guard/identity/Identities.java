package dev.sessionguard.guard.identity;

import dev.sessionguard.guard.config.ActivePolicy;
import dev.sessionguard.guard.config.GuardConfig.IdentityRules;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The identity step of the policy in force. It is rebuilt only when the identity rules change, so a
 * reload that leaves them alone keeps the cached signing keys. It also remembers what outlives one
 * policy: the {@code resource_metadata} of the upstream's latest 401 challenge.
 */
public final class Identities {
  private static final Pattern RESOURCE_METADATA =
      Pattern.compile("resource_metadata\\s*=\\s*\"([^\"]+)\"", Pattern.CASE_INSENSITIVE);

  private record Built(IdentityRules rules, ClientIdentity identity) {}

  private final ActivePolicy policy;
  private final Clock clock;
  private final AtomicReference<String> upstreamResourceMetadata = new AtomicReference<>();
  private volatile Built built;

  public Identities(ActivePolicy policy, Clock clock) {
    this.policy = policy;
    this.clock = clock;
    IdentityRules rules = policy.get().identity();
    built = new Built(rules, ClientIdentity.of(rules, clock, upstreamResourceMetadata::get));
    built.identity().prefetch(); // fetch keys now: readiness knows before the first token
  }

  /**
   * The identity step for {@code rules} (those of the policy a request runs under), or, for a
   * request that began under an older policy, that of the policy in force: rebuilding an older one
   * would throw away the newer one, and its keys, for the next request to build again.
   */
  public ClientIdentity current(IdentityRules rules) {
    Built b = built; // read without a lock: every request passes here
    if (b.rules().equals(rules)) {
      return b.identity();
    }
    ClientIdentity made;
    synchronized (this) {
      IdentityRules latest = policy.get().identity();
      if (built.rules().equals(rules) || built.rules().equals(latest)) {
        return built.identity();
      }
      made = ClientIdentity.of(latest, clock, upstreamResourceMetadata::get);
      built = new Built(latest, made);
    }
    // Its keys are fetched away from the lock and this request: a slow JWKS holds up only the
    // requests whose tokens need them.
    Thread prefetch = new Thread(made::prefetch, "identity-prefetch");
    prefetch.setDaemon(true);
    prefetch.start();
    return made;
  }

  /**
   * The identity step for {@code rules} if it is built already; empty when building it is still to
   * be done (which may fetch keys). Never waits.
   */
  public Optional<ClientIdentity> ready(IdentityRules rules) {
    Built b = built;
    return b.rules().equals(rules) ? Optional.of(b.identity()) : Optional.empty();
  }

  /** Why clients cannot be named right now under the policy in force; for {@code /readyz}. */
  public Optional<String> problem() {
    return current(policy.get().identity()).problem();
  }

  /** True while clients can be named (always, unless keys are missing); for the metric. */
  public boolean available() {
    return problem().isEmpty();
  }

  /** Remembers where the upstream's own 401 challenge points clients for authorization. */
  public void upstreamAnswered(int status, List<String> wwwAuthenticate) {
    if (status != 401) {
      return;
    }
    for (String challenge : wwwAuthenticate) {
      Matcher m = RESOURCE_METADATA.matcher(challenge);
      if (m.find()) {
        upstreamResourceMetadata.set(m.group(1));
        return;
      }
    }
  }
}
