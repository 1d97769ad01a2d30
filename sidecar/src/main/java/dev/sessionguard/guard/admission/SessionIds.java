package dev.sessionguard.guard.admission;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** Session ids as the MCP spec allows them, and as logs and the admin view show them. */
public final class SessionIds {
  private SessionIds() {}

  /** Visible ASCII only (0x21–0x7E), non-empty, at most 512 characters. */
  public static boolean isValid(String id) {
    if (id == null || id.isEmpty() || id.length() > 512) {
      return false;
    }
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (c < 0x21 || c > 0x7E) {
        return false;
      }
    }
    return true;
  }

  /** A short, stable, non-reversible name for a session id or client name. */
  public static String shortHash(String value) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, 6);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
