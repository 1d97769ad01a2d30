package dev.sessionguard.policy;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** The one function that names a policy's content: sha256 of its canonical JSON. */
public final class PolicyHash {
  private PolicyHash() {}

  /** Hex sha256 of the spec's canonical JSON; the spec's defaults are already filled in. */
  public static String of(SessionPolicySpec spec) {
    try {
      byte[] canonical = PolicyJson.canonical().writeValueAsBytes(spec);
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(canonical));
    } catch (JsonProcessingException | NoSuchAlgorithmException e) {
      throw new IllegalStateException("cannot hash policy", e);
    }
  }

  /** Canonical JSON of the spec, as hashed. */
  public static String canonicalJson(SessionPolicySpec spec) {
    try {
      return new String(PolicyJson.canonical().writeValueAsBytes(spec), StandardCharsets.UTF_8);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write policy", e);
    }
  }
}
