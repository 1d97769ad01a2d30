package dev.sessionguard.guard.admission.redis;

import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.api.sync.RedisCommands;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One Lua script of the shared registry: the common prelude followed by its own body, run by SHA
 * (EVALSHA) and loaded when Redis does not know it (after a restart, or on first use).
 */
public final class Script {
  private final String name;
  private final String body;
  private final String sha;

  private Script(String name, String body) {
    this.name = name;
    this.body = body;
    this.sha = sha1(body);
  }

  /**
   * The script {@code <name>.lua} next to this class, after the parts of {@code common.lua} it
   * uses.
   */
  public static Script named(String name) {
    return new Script(name, Prelude.COMMON.before(resource(name + ".lua")));
  }

  /** The script's whole text, as Redis runs it. */
  String body() {
    return body;
  }

  public String name() {
    return name;
  }

  /** Runs the script, loading it first if Redis does not have it. */
  public <T> T run(
      RedisCommands<String, String> redis, ScriptOutputType type, String[] keys, String... args) {
    try {
      return redis.evalsha(sha, type, keys, args);
    } catch (RedisNoScriptException e) {
      redis.scriptLoad(body);
      return redis.evalsha(sha, type, keys, args);
    }
  }

  /** Sends the script without waiting; it fails with NOSCRIPT unless {@link #load} ran. */
  public <T> RedisFuture<T> send(
      RedisAsyncCommands<String, String> redis,
      ScriptOutputType type,
      String[] keys,
      String... args) {
    return redis.evalsha(sha, type, keys, args);
  }

  /** Makes the script known to Redis. */
  public void load(RedisCommands<String, String> redis) {
    redis.scriptLoad(body);
  }

  static String resource(String file) {
    try (InputStream in = Script.class.getResourceAsStream(file)) {
      if (in == null) {
        throw new IllegalStateException("missing script " + file);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String sha1(String text) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
