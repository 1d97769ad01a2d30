package dev.sessionguard.policy;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

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

  /**
   * Hex sha256 (16 digits) of the settings a guard reads only when it starts — {@code
   * timeouts.connect}, {@code limits.maxHeaderBytes}, {@code store} — which a reload leaves as they
   * were (the guard reports them in {@code /policy}'s {@code restartPending}). The operator puts it
   * on the pod template, so changing one rolls the pods. The guard's ports, also read at start, are
   * in the pod template already.
   */
  public static String ofStartSettings(SessionPolicySpec spec) {
    Map<String, Object> settings = new LinkedHashMap<>();
    settings.put("connect", spec.timeouts.connect);
    settings.put("maxHeaderBytes", spec.limits.maxHeaderBytes);
    settings.put("store", spec.store);
    try {
      byte[] canonical = PolicyJson.canonical().writeValueAsBytes(settings);
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(canonical);
      return HexFormat.of().formatHex(digest, 0, 8);
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
