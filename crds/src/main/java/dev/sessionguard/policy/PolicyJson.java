package dev.sessionguard.policy;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonSetter;
import com.fasterxml.jackson.annotation.Nulls;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

/** The Jackson mappers every reader and writer of policies shares. */
public final class PolicyJson {
  private static final ObjectMapper JSON = configure(JsonMapper.builder()).build();

  // The other two are built on first use: a guard reading the operator's policy.json (with its
  // hash) needs neither, and each costs start-up time (YAML also loads SnakeYAML).
  private static final class Yaml {
    // A key given twice is refused: the second would silently replace the first (a second
    // sessions: block holding only idleTimeout would reset max and perClient to their defaults).
    static final ObjectMapper MAPPER =
        configure(YAMLMapper.builder())
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .build();
  }

  private static final class Canonical {
    static final ObjectMapper MAPPER =
        configure(JsonMapper.builder())
            .enable(MapperFeature.SORT_PROPERTIES_ALPHABETICALLY)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .build();
  }

  private PolicyJson() {}

  private static <
          M extends ObjectMapper, B extends com.fasterxml.jackson.databind.cfg.MapperBuilder<M, B>>
      B configure(B builder) {
    return builder
        .defaultPropertyInclusion(
            JsonInclude.Value.construct(JsonInclude.Include.NON_NULL, JsonInclude.Include.NON_NULL))
        // An explicit null keeps the default instead of erasing it.
        .defaultSetterInfo(JsonSetter.Value.forValueNulls(Nulls.SKIP));
  }

  /** JSON, as the operator writes {@code policy.json}. */
  public static ObjectMapper json() {
    return JSON;
  }

  /** YAML (which also reads JSON), for files people write. */
  public static ObjectMapper yaml() {
    return Yaml.MAPPER;
  }

  /** Sorted keys, no nulls, no whitespace: the input of the policy hash. */
  public static ObjectMapper canonical() {
    return Canonical.MAPPER;
  }
}
