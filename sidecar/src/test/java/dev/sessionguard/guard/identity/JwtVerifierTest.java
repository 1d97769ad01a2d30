package dev.sessionguard.guard.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.ECDSASigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.Curve;
import com.nimbusds.jose.jwk.ECKey;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.ECKeyGenerator;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpServer;
import dev.sessionguard.guard.ManualClock;
import dev.sessionguard.guard.identity.JwtVerifier.Result;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tokens against keys served over HTTP by the test, as an identity provider serves them. */
class JwtVerifierTest {
  static final String ISSUER = "https://issuer.example";
  static final String AUDIENCE = "vmcp";

  final ManualClock clock = new ManualClock(Instant.now());
  final List<JWK> published = new CopyOnWriteArrayList<>();
  RSAKey rsa;
  ECKey ec;
  HttpServer jwks;
  JwtVerifier verifier;

  @BeforeEach
  void start() throws Exception {
    rsa = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
    ec = new ECKeyGenerator(Curve.P_256).keyID("ec-1").generate();
    published.add(rsa.toPublicJWK());
    published.add(ec.toPublicJWK());
    jwks = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    jwks.createContext(
        "/jwks",
        exchange -> {
          byte[] body =
              new JWKSet(new ArrayList<>(published)).toString().getBytes(StandardCharsets.UTF_8);
          exchange.getResponseHeaders().add("Content-Type", "application/json");
          exchange.sendResponseHeaders(200, body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
    jwks.start();
    verifier = new JwtVerifier(settings(jwksUri(), null, "sub"), clock);
  }

  @AfterEach
  void stop() {
    jwks.stop(0);
  }

  URI jwksUri() {
    return URI.create("http://127.0.0.1:" + jwks.getAddress().getPort() + "/jwks");
  }

  static JwtVerifier.Settings settings(URI uri, Path file, String claim) {
    return new JwtVerifier.Settings(
        ISSUER,
        List.of(AUDIENCE, "other"),
        uri,
        file,
        List.of("RS256", "ES256"),
        claim,
        Duration.ofMillis(100));
  }

  JWTClaimsSet.Builder claims() {
    Instant now = clock.instant();
    return new JWTClaimsSet.Builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .subject("alice")
        .claim("email", "alice@example.com")
        .issueTime(Date.from(now))
        .expirationTime(Date.from(now.plusSeconds(300)));
  }

  static String rs256(RSAKey key, JWTClaimsSet claims) throws Exception {
    var jwt =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID()).build(), claims);
    jwt.sign(new RSASSASigner(key));
    return jwt.serialize();
  }

  @Test
  void a_token_signed_by_a_published_key_names_its_client() throws Exception {
    assertThat(verifier.verify(rs256(rsa, claims().build())))
        .isEqualTo(new Result.Verified("alice"));

    var es =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.ES256).keyID("ec-1").build(),
            claims().subject("bob").build());
    es.sign(new ECDSASigner(ec));
    assertThat(verifier.verify(es.serialize())).isEqualTo(new Result.Verified("bob"));
    assertThat(verifier.keyProblem()).isEmpty();
  }

  @Test
  void an_rfc_9068_access_token_is_verified_and_another_type_is_not() throws Exception {
    for (String type : List.of("at+jwt", "application/at+jwt", "JWT", "application/jwt")) {
      var jwt =
          new SignedJWT(
              new JWSHeader.Builder(JWSAlgorithm.RS256)
                  .keyID(rsa.getKeyID())
                  .type(new JOSEObjectType(type))
                  .build(),
              claims().subject("carol-" + type).build());
      jwt.sign(new RSASSASigner(rsa));
      assertThat(verifier.verify(jwt.serialize())).isEqualTo(new Result.Verified("carol-" + type));
    }
    var logout =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.RS256)
                .keyID(rsa.getKeyID())
                .type(new JOSEObjectType("logout+jwt"))
                .build(),
            claims().build());
    logout.sign(new RSASSASigner(rsa));
    assertThat(verifier.verify(logout.serialize())).isInstanceOf(Result.Rejected.class);
  }

  @Test
  void the_naming_claim_is_configurable() throws Exception {
    var byEmail = new JwtVerifier(settings(jwksUri(), null, "email"), clock);
    assertThat(byEmail.verify(rs256(rsa, claims().build())))
        .isEqualTo(new Result.Verified("alice@example.com"));
    assertThat(byEmail.verify(rs256(rsa, claims().claim("email", null).build())))
        .isInstanceOf(Result.Rejected.class);
  }

  @Test
  void refuses_forged_expired_early_and_misaddressed_tokens() throws Exception {
    RSAKey stranger = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
    var hmacWithPublicKey =
        new SignedJWT(
            new JWSHeader.Builder(JWSAlgorithm.HS256).keyID("rsa-1").build(), claims().build());
    hmacWithPublicKey.sign(new MACSigner(rsa.toRSAPublicKey().getEncoded()));
    Instant now = clock.instant();

    List<String> forged =
        List.of(
            new PlainJWT(claims().build()).serialize(), // alg: none
            rs256(stranger, claims().build()), // right kid, wrong key
            hmacWithPublicKey.serialize(), // HS256 keyed with the public key
            rs256(rsa, claims().expirationTime(Date.from(now.minusSeconds(60))).build()),
            rs256(rsa, claims().notBeforeTime(Date.from(now.plusSeconds(120))).build()),
            rs256(rsa, claims().audience("someone-else").build()),
            rs256(rsa, claims().issuer("https://evil.example").build()),
            rs256(new RSAKeyGenerator(2048).keyID("unknown").generate(), claims().build()),
            rs256(rsa, claims().expirationTime(null).build()),
            "not-a-token");

    for (String token : forged) {
      assertThat(verifier.verify(token)).as(token).isInstanceOf(Result.Rejected.class);
    }
  }

  @Test
  void a_verified_token_is_remembered_until_it_expires_and_never_longer_than_the_limit()
      throws Exception {
    Instant now = clock.instant();
    String shortLived =
        rs256(rsa, claims().expirationTime(Date.from(now.plusSeconds(120))).build());
    String longLived =
        rs256(rsa, claims().expirationTime(Date.from(now.plusSeconds(3600))).build());

    assertThat(verifier.remembered(shortLived)).isEmpty(); // never checked: must be verified
    assertThat(verifier.verify(shortLived)).isEqualTo(new Result.Verified("alice"));
    assertThat(verifier.verify(longLived)).isEqualTo(new Result.Verified("alice"));
    assertThat(verifier.remembered(shortLived)).contains(new Result.Verified("alice"));

    clock.advance(Duration.ofSeconds(121)); // past exp, within the clock skew
    assertThat(verifier.remembered(shortLived)).isEmpty();
    assertThat(verifier.remembered(longLived)).contains(new Result.Verified("alice"));
    assertThat(verifier.verify(shortLived)).isInstanceOf(Result.Verified.class); // the skew
    assertThat(verifier.remembered(shortLived)).isEmpty(); // but not remembered past exp

    clock.advance(Duration.ofSeconds(60));
    assertThat(verifier.verify(shortLived)).isInstanceOf(Result.Rejected.class);

    clock.advance(JwtVerifier.REMEMBER.minusSeconds(180)); // the limit, though exp is later
    assertThat(verifier.remembered(longLived)).isEmpty();
    assertThat(verifier.verify(longLived)).isEqualTo(new Result.Verified("alice"));
  }

  @Test
  void a_forged_token_is_never_remembered() throws Exception {
    RSAKey stranger = new RSAKeyGenerator(2048).keyID("rsa-1").generate();
    String forged = rs256(stranger, claims().build());

    assertThat(verifier.verify(forged)).isInstanceOf(Result.Rejected.class);
    assertThat(verifier.remembered(forged)).isEmpty();
  }

  @Test
  void tolerates_a_small_clock_skew() throws Exception {
    Instant now = clock.instant();
    String justExpired =
        rs256(rsa, claims().expirationTime(Date.from(now.minusSeconds(10))).build());
    assertThat(verifier.verify(justExpired)).isInstanceOf(Result.Verified.class);
  }

  @Test
  void a_rotated_key_is_picked_up_without_restart() throws Exception {
    assertThat(verifier.verify(rs256(rsa, claims().build()))).isInstanceOf(Result.Verified.class);
    RSAKey next = new RSAKeyGenerator(2048).keyID("rsa-2").generate();
    published.add(next.toPublicJWK());

    String token = rs256(next, claims().subject("carol").build());
    await()
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> assertThat(verifier.verify(token)).isEqualTo(new Result.Verified("carol")));
  }

  @Test
  void an_unreachable_jwks_is_reported() throws Exception {
    jwks.stop(0);
    var down = new JwtVerifier(settings(jwksUri(), null, "sub"), clock);
    down.checkKeys();
    assertThat(down.keyProblem()).hasValueSatisfying(p -> assertThat(p).contains("unavailable"));
    // not the token's fault: it cannot be checked now
    assertThat(down.verify(rs256(rsa, claims().build()))).isInstanceOf(Result.Unavailable.class);
  }

  @Test
  void keys_can_come_from_a_file(@TempDir Path dir) throws Exception {
    Path file =
        Files.writeString(dir.resolve("jwks.json"), new JWKSet(rsa.toPublicJWK()).toString());
    var fromFile = new JwtVerifier(settings(null, file, "sub"), clock);
    assertThat(fromFile.verify(rs256(rsa, claims().build())))
        .isEqualTo(new Result.Verified("alice"));
    assertThat(fromFile.keyProblem()).isEmpty();
  }

  @Test
  void a_key_file_is_read_again_when_it_changes_and_may_come_late(@TempDir Path dir)
      throws Exception {
    Path file = dir.resolve("jwks.json");
    var fromFile = new JwtVerifier(settings(null, file, "sub"), clock);
    // not there yet: said, and no token passes
    assertThat(fromFile.keyProblem()).hasValueSatisfying(p -> assertThat(p).contains("jwks.json"));
    assertThat(fromFile.verify(rs256(rsa, claims().build())))
        .isInstanceOf(Result.Unavailable.class);

    Files.writeString(file, new JWKSet(rsa.toPublicJWK()).toString());
    clock.advance(Duration.ofSeconds(1));
    fromFile.checkKeys();
    assertThat(fromFile.keyProblem()).isEmpty();
    String alice = rs256(rsa, claims().build());
    assertThat(fromFile.verify(alice)).isEqualTo(new Result.Verified("alice"));

    // rotated: the new key is taken, the withdrawn one (and what it verified) no longer
    // (written in place with the old file's time: its bytes tell, not its timestamp)
    RSAKey next = new RSAKeyGenerator(2048).keyID("rsa-2").generate();
    var modified = Files.getLastModifiedTime(file);
    Files.writeString(file, new JWKSet(next.toPublicJWK()).toString());
    Files.setLastModifiedTime(file, modified);
    clock.advance(Duration.ofSeconds(1));
    assertThat(fromFile.verify(rs256(next, claims().subject("bob").build())))
        .isEqualTo(new Result.Verified("bob"));
    assertThat(fromFile.verify(alice)).isInstanceOf(Result.Rejected.class);

    // broken: the keys read before stay, and the problem is said
    Files.writeString(file, "not json");
    clock.advance(Duration.ofSeconds(1));
    fromFile.checkKeys();
    assertThat(fromFile.keyProblem())
        .hasValueSatisfying(p -> assertThat(p).contains("not a JWK set"));
    assertThat(fromFile.verify(rs256(next, claims().subject("carol").build())))
        .isEqualTo(new Result.Verified("carol"));
  }
}
