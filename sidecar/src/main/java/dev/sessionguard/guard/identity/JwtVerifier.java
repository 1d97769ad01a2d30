package dev.sessionguard.guard.identity;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.KeySourceException;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKMatcher;
import com.nimbusds.jose.jwk.JWKSelector;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.jwk.source.RateLimitReachedException;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jose.util.DefaultResourceRetriever;
import com.nimbusds.jose.util.health.HealthStatus;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import dev.sessionguard.guard.Failures;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.util.Arrays;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/**
 * Verifies bearer tokens and names their client by a claim (nimbus-jose-jwt does the verifying).
 *
 * <p>Only the policy's asymmetric algorithms are accepted, so unsigned ({@code alg: none}) tokens
 * and HMAC tokens keyed with a public key are refused. Issuer, audience (when the policy lists
 * any), expiry and not-before are checked with {@link #CLOCK_SKEW} of tolerance. Keys come from a
 * JWKS file, or a JWKS URL that is cached and fetched again when a token names an unknown {@code
 * kid} (at most once per rate-limit interval); fetch failures are reported by {@link
 * #keyProblem()}. A verified token is remembered for {@link #REMEMBER} (never past its expiry).
 */
public final class JwtVerifier {
  /** Tolerance for clocks that disagree a little. */
  public static final Duration CLOCK_SKEW = Duration.ofSeconds(30);

  /**
   * What to verify.
   *
   * @param audiences accepted {@code aud} values; empty: the audience is not checked
   * @param jwksUri keys from this URL, or
   * @param jwksFile keys from this file
   * @param refreshInterval the least time between two fetches of the JWKS URL
   */
  public record Settings(
      String issuer,
      List<String> audiences,
      URI jwksUri,
      Path jwksFile,
      List<String> algorithms,
      String claim,
      Duration refreshInterval) {}

  /** The outcome of verifying one token. */
  public sealed interface Result {
    /** A good token; {@code client} is its naming claim. */
    record Verified(String client) implements Result {}

    /** A token that must not name anyone; {@code why} is for logs, never for the client. */
    record Rejected(String why) implements Result {}

    /**
     * A token that cannot be checked now: the keys cannot be had (the JWKS does not answer, its
     * file cannot be read). Not the token's fault: the client should keep it and retry.
     */
    record Unavailable(String why) implements Result {}
  }

  /**
   * How long a verified token is remembered at most (never past its {@code exp}). A client sends
   * the same token on every request, and checking its signature again costs more than the rest of
   * the request. This adds no exposure to a key withdrawn from the JWKS: the keys themselves are
   * cached for longer (15 minutes).
   */
  public static final Duration REMEMBER = Duration.ofMinutes(5);

  // Bounds the memory of remembered tokens; past it, expired ones go, then all.
  private static final int REMEMBERED_MAX = 4096;

  private record Remembered(String client, long untilMillis) {}

  private final Settings settings;
  private final Clock clock;
  private final Map<String, Remembered> remembered = new ConcurrentHashMap<>();
  private final JWKSource<SecurityContext> keys;
  private final DefaultJWTProcessor<SecurityContext> processor = new DefaultJWTProcessor<>();
  private final AtomicReference<String> keyProblem = new AtomicReference<>();
  // bumped when a key file's keys are replaced: a token verified under the old ones is not kept
  private volatile long keysGeneration;
  private volatile boolean checked;

  /** A JWKS file that cannot be read is no error here: {@link #keyProblem} says why. */
  public JwtVerifier(Settings settings, Clock clock) {
    this.settings = settings;
    this.clock = clock;
    this.keys = keySource(settings);
    Set<JWSAlgorithm> algorithms =
        settings.algorithms().stream().map(JWSAlgorithm::parse).collect(Collectors.toSet());
    processor.setJWSKeySelector(new JWSVerificationKeySelector<>(algorithms, keys));
    // plain JWTs and RFC 9068 access tokens, each in the short and the media-type form, or no typ
    processor.setJWSTypeVerifier(
        new DefaultJOSEObjectTypeVerifier<>(
            JOSEObjectType.JWT,
            new JOSEObjectType("application/jwt"),
            new JOSEObjectType("at+jwt"),
            new JOSEObjectType("application/at+jwt"),
            null));
    Set<String> audiences =
        settings.audiences().isEmpty() ? null : new HashSet<>(settings.audiences());
    var claims =
        new DefaultJWTClaimsVerifier<SecurityContext>(
            audiences,
            new JWTClaimsSet.Builder().issuer(settings.issuer()).build(),
            Set.of(settings.claim(), "exp"),
            null) {
          @Override
          protected Date currentTime() {
            return Date.from(clock.instant());
          }
        };
    claims.setMaxClockSkew((int) CLOCK_SKEW.toSeconds());
    processor.setJWTClaimsSetVerifier(claims);
  }

  private JWKSource<SecurityContext> keySource(Settings s) {
    if (s.jwksFile() != null) {
      return new FileKeys(s.jwksFile());
    }
    long interval = s.refreshInterval().toMillis();
    java.net.URL url;
    try {
      url = s.jwksUri().toURL();
    } catch (java.net.MalformedURLException e) {
      throw new IllegalArgumentException("jwksUri " + s.jwksUri() + " is no URL", e); // validated
    }
    return JWKSourceBuilder.<SecurityContext>create(
            url, new DefaultResourceRetriever(2_000, 5_000, 512 * 1024))
        .cache(Duration.ofMinutes(15).toMillis(), 5_000)
        .rateLimited(interval)
        .retrying(true)
        .healthReporting(
            report ->
                keyProblem.set(
                    report.getHealthStatus() == HealthStatus.HEALTHY
                        ? null
                        : "JWKS "
                            + s.jwksUri()
                            + " unavailable: "
                            + Failures.describe(report.getException())))
        .build();
  }

  /** Verifies {@code token} (or knows it from a recent check); never throws. */
  public Result verify(String token) {
    Optional<Result> known = remembered(token);
    if (known.isPresent()) {
      return known.get();
    }
    long generation = keysGeneration;
    try {
      JWTClaimsSet claims = processor.process(token, null);
      Object name = claims.getClaim(settings.claim());
      if (!(name instanceof String client) || client.isBlank()) {
        return new Result.Rejected("claim " + settings.claim() + " is not a non-empty string");
      }
      remember(token, client, claims.getExpirationTime().getTime());
      if (keysGeneration != generation) {
        remembered.remove(token); // verified under keys replaced meanwhile: check it again next
      }
      return new Result.Verified(client);
    } catch (RateLimitReachedException e) {
      // Refused a fetch within the refresh interval: while the keys cannot be had that is the
      // outage again; with keys at hand, a token naming none of them asked for more too soon.
      return keyProblem.get() != null
          ? new Result.Unavailable(keyProblem.get())
          : new Result.Rejected(Failures.describe(e));
    } catch (KeySourceException e) {
      return new Result.Unavailable(Failures.describe(e));
    } catch (Exception e) {
      return new Result.Rejected(Failures.describe(e));
    }
  }

  /**
   * The outcome for a token verified within {@link #REMEMBER} that has not expired; empty when it
   * must be verified, which may fetch keys. Never waits.
   */
  public Optional<Result> remembered(String token) {
    Remembered r = remembered.get(token);
    if (r == null) {
      return Optional.empty();
    }
    if (clock.millis() >= r.untilMillis()) {
      remembered.remove(token, r);
      return Optional.empty();
    }
    return Optional.of(new Result.Verified(r.client()));
  }

  private void remember(String token, String client, long expiresMillis) {
    long now = clock.millis();
    long until = Math.min(expiresMillis, now + REMEMBER.toMillis());
    if (until <= now) {
      return; // within the clock-skew tolerance only: checked every time
    }
    if (remembered.size() >= REMEMBERED_MAX) {
      remembered.values().removeIf(r -> r.untilMillis() <= now);
      if (remembered.size() >= REMEMBERED_MAX) {
        remembered.clear();
      }
    }
    remembered.put(token, new Remembered(client, until));
  }

  /** Whether a {@link #checkKeys} has ended (its outcome is in {@link #keyProblem}). */
  public boolean checked() {
    return checked;
  }

  /** Fetches the keys now (or reads a changed file) so their health is known before a token. */
  public void checkKeys() {
    try {
      if (keys instanceof FileKeys file) {
        file.refresh();
        return;
      }
      keys.get(new JWKSelector(new JWKMatcher.Builder().build()), null);
      keyProblem.set(null); // fetched, or still cached: keys can be had
    } catch (RateLimitReachedException e) {
      // checked too soon after the last fetch: its outcome stands
    } catch (KeySourceException e) {
      keyProblem.set("JWKS " + settings.jwksUri() + " unavailable: " + Failures.describe(e));
    } finally {
      checked = true;
    }
  }

  /** Why keys cannot be had right now, or empty when they can. */
  public Optional<String> keyProblem() {
    return Optional.ofNullable(keyProblem.get());
  }

  /**
   * Keys from a file, read again when it changes: a mounted Secret or ConfigMap is swapped whole
   * (its {@code ..data} link), and the file is looked at, through its links, at most once a second.
   * A file that cannot be read or parsed keeps the keys read before (none at first) and says why in
   * {@link #keyProblem}; tokens remembered under keys that changed are forgotten.
   */
  private final class FileKeys implements JWKSource<SecurityContext> {
    private final Path file;
    private volatile JWKSet set;
    private byte[] read;
    private long checkedAt = Long.MIN_VALUE;

    FileKeys(Path file) {
      this.file = file;
      refresh();
    }

    @Override
    public List<JWK> get(JWKSelector selector, SecurityContext context) throws KeySourceException {
      refresh();
      JWKSet current = set;
      if (current == null) {
        throw new KeySourceException(keyProblem.get());
      }
      return selector.select(current);
    }

    /** Reads the file (small) and takes it if its bytes changed: no timestamp is trusted. */
    synchronized void refresh() {
      long now = clock.millis();
      if (checkedAt != Long.MIN_VALUE && now >= checkedAt && now - checkedAt < 1_000) {
        return;
      }
      checkedAt = now;
      try {
        byte[] bytes = Files.readAllBytes(file);
        if (set != null && Arrays.equals(bytes, read)) {
          keyProblem.set(null);
          return;
        }
        JWKSet parsed = JWKSet.parse(new String(bytes, StandardCharsets.UTF_8));
        boolean replaced = set != null;
        set = parsed;
        read = bytes;
        keyProblem.set(null);
        if (replaced) {
          keysGeneration++; // (only here, under this lock)
          remembered.clear(); // verified under keys that may be gone
        }
      } catch (IOException e) {
        keyProblem.set("JWKS file " + file + " cannot be read: " + Failures.describe(e));
      } catch (ParseException e) {
        keyProblem.set("JWKS file " + file + " is not a JWK set: " + e.getMessage());
      }
    }
  }
}
