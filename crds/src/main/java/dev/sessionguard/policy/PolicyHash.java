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

  /**
   * Hex sha256 (16 digits) of the settings a guard reads only when it starts — {@code
   * timeouts.connect}, {@code limits.maxHeaderBytes}, {@code store} — which a reload leaves as they
   * were (the guard reports them in {@code /policy}'s {@code restartPending}). The operator puts it
   * on the pod template, so changing one rolls the pods. Values are taken as the guard reads them
   * ({@code 2s} and {@code 2000ms} are one setting; a Redis block under store type Memory is
   * nothing), so only a change the guard would see rolls them. The guard's ports, also read at
   * start, are in the pod template already. The spec must be valid.
   */
  public static String ofStartSettings(SessionPolicySpec spec) {
    StringBuilder settings = new StringBuilder();
    settings.append("connect=").append(Durations.parse(spec.timeouts.connect).toNanos());
    settings.append(";maxHeaderBytes=").append(ByteSizes.parse(spec.limits.maxHeaderBytes));
    var store = spec.store;
    if (store != null && store.type == SessionPolicySpec.StoreType.Redis && store.redis != null) {
      settings.append(";redis=").append(store.redis.url);
      settings.append(";leaseTtl=").append(Durations.parse(store.redis.leaseTtl).toNanos());
      settings.append(";failureMode=").append(store.redis.failureMode);
      if (store.redis.username != null) {
        settings.append(";username=").append(store.redis.username);
      }
    }
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256")
              .digest(settings.toString().getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
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
