package dev.sessionguard.policy;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.deser.DeserializationProblemHandler;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The guard's policy file: {@code {schemaVersion, name, generation, hash, ...spec}}, as the
 * operator writes it into {@code policy.json} and as people write it by hand in YAML or JSON.
 *
 * <p>Standalone, only {@code name} and the spec are required: {@code schemaVersion} defaults to the
 * current one, {@code generation} and {@code hash} may be absent.
 */
public record PolicyFile(
    int schemaVersion, String name, Long generation, String hash, SessionPolicySpec spec) {

  /** The newest schema this build reads and writes. */
  public static final int CURRENT_SCHEMA_VERSION = 1;

  private static final List<String> HEADER = List.of("schemaVersion", "name", "generation", "hash");

  /** The file the operator writes for a resource: current schema, the shared hash. */
  public static PolicyFile of(String name, Long generation, SessionPolicySpec spec) {
    return new PolicyFile(CURRENT_SCHEMA_VERSION, name, generation, PolicyHash.of(spec), spec);
  }

  /** The hash the guard reports: the file's own, computed only when the file has none. */
  public String effectiveHash() {
    return hash != null && !hash.isBlank() ? hash : PolicyHash.of(spec);
  }

  /** Reads and validates a file; every problem is reported at once. */
  public static PolicyFile load(Path path, PolicyValidator.Mode mode)
      throws InvalidPolicyException {
    String text;
    try {
      text = Files.readString(path);
    } catch (IOException e) {
      throw new InvalidPolicyException(List.of("cannot read " + path + ": " + e.getMessage()));
    }
    return parse(text, mode);
  }

  /** Parses and validates YAML or JSON text; every problem is reported at once. */
  public static PolicyFile parse(String text, PolicyValidator.Mode mode)
      throws InvalidPolicyException {
    JsonNode root = readTree(text);
    if (!(root instanceof ObjectNode object)) {
      throw new InvalidPolicyException(
          List.of("a policy file is a mapping of name and spec fields"));
    }
    List<String> problems = new ArrayList<>();
    int schemaVersion = CURRENT_SCHEMA_VERSION;
    JsonNode version = object.remove("schemaVersion");
    if (version != null && !version.isNull()) {
      if (!version.canConvertToInt() || !version.isIntegralNumber()) {
        problems.add("schemaVersion must be a whole number");
      } else {
        schemaVersion = version.intValue();
        if (schemaVersion > CURRENT_SCHEMA_VERSION) {
          throw new InvalidPolicyException(
              List.of(
                  "schemaVersion "
                      + schemaVersion
                      + " is newer than this guard understands ("
                      + CURRENT_SCHEMA_VERSION
                      + "); upgrade the guard"));
        }
        if (schemaVersion < 1) {
          problems.add("schemaVersion must be at least 1");
        }
      }
    }
    JsonNode nameNode = object.remove("name");
    String name = nameNode == null || nameNode.isNull() ? null : nameNode.asText();
    if (name == null || name.isBlank()) {
      problems.add("name is required");
    }
    JsonNode generationNode = object.remove("generation");
    Long generation = null;
    if (generationNode != null && !generationNode.isNull()) {
      if (generationNode.isIntegralNumber()) {
        generation = generationNode.longValue();
      } else {
        problems.add("generation must be a whole number");
      }
    }
    JsonNode hashNode = object.remove("hash");
    String hash = hashNode == null || hashNode.isNull() ? null : hashNode.asText();

    var collector = new ProblemCollector();
    SessionPolicySpec spec;
    try {
      spec = spec(object, collector);
    } catch (IOException e) {
      problems.addAll(collector.problems);
      problems.add(describe(e));
      throw new InvalidPolicyException(problems);
    }
    problems.addAll(collector.problems);
    for (String problem : PolicyValidator.validate(spec, mode)) {
      // A field the parser already reported is not reported again as missing.
      if (collector.fields.keySet().stream().noneMatch(problem::startsWith)) {
        problems.add(problem);
      }
    }
    if (!problems.isEmpty()) {
      throw new InvalidPolicyException(problems);
    }
    return new PolicyFile(schemaVersion, name, generation, hash, spec);
  }

  /**
   * The spec, bound directly where {@link SpecBinder} can; otherwise Jackson binds what it can and
   * {@code collector} records every problem.
   */
  private static SessionPolicySpec spec(ObjectNode object, ProblemCollector collector)
      throws IOException {
    try {
      return SpecBinder.bind(object, SessionPolicySpec.class);
    } catch (SpecBinder.NotBound e) {
      return PolicyJson.json()
          .readerFor(SessionPolicySpec.class)
          .with(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          // a cap of 2.5 is a mistake, not 2
          .without(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
          .withHandler(collector)
          .readValue(object);
    }
  }

  /**
   * JSON (what the operator writes) is read as JSON, which spares a guard's start the YAML parser;
   * anything else, and JSON that only YAML accepts (comments), is read as YAML, which also reports
   * what neither can read.
   */
  private static JsonNode readTree(String text) throws InvalidPolicyException {
    if (text.stripLeading().startsWith("{")) {
      try {
        return SpecBinder.tree(text);
      } catch (IOException e) {
        // not strict JSON: YAML decides
      }
    }
    try {
      return PolicyJson.yaml().readTree(text);
    } catch (JsonProcessingException e) {
      java.util.regex.Matcher twice =
          java.util.regex.Pattern.compile("^Duplicate field '(.*)' for")
              .matcher(e.getOriginalMessage());
      if (twice.find()) {
        throw new InvalidPolicyException(
            List.of(
                "key '"
                    + twice.group(1)
                    + "' is given twice in one mapping (the second would replace the first)"));
      }
      throw new InvalidPolicyException(List.of("not YAML or JSON: " + e.getOriginalMessage()));
    }
  }

  /** This file as the operator writes it: header fields first, then the spec, as JSON. */
  public String toJson() {
    ObjectNode out = PolicyJson.json().createObjectNode();
    out.put("schemaVersion", schemaVersion);
    out.put("name", name);
    if (generation != null) {
      out.put("generation", generation);
    }
    if (hash != null) {
      out.put("hash", hash);
    }
    out.setAll((ObjectNode) PolicyJson.json().valueToTree(spec));
    try {
      return PolicyJson.json().writerWithDefaultPrettyPrinter().writeValueAsString(out);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write policy file", e);
    }
  }

  private static String describe(IOException e) {
    if (e instanceof InvalidFormatException f && !f.getPath().isEmpty()) {
      String field =
          f.getPath().stream()
              .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
              .collect(java.util.stream.Collectors.joining("."))
              .replace(".[", "[");
      return field
          + " "
          + f.getValue()
          + " is not a "
          + ProblemCollector.simpleName(f.getTargetType());
    }
    return e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
  }

  /** Records bad fields and keeps reading, so one pass reports every problem. */
  private static final class ProblemCollector extends DeserializationProblemHandler {
    final List<String> problems = new ArrayList<>();
    final Map<String, String> fields = new LinkedHashMap<>();

    @Override
    public boolean handleUnknownProperty(
        DeserializationContext ctxt,
        JsonParser p,
        JsonDeserializer<?> deserializer,
        Object beanOrClass,
        String propertyName)
        throws IOException {
      String field = path(p.getParsingContext());
      if (!HEADER.contains(field)) {
        record(field, field + " is not a policy field");
      }
      p.skipChildren();
      return true;
    }

    @Override
    public Object handleWeirdStringValue(
        DeserializationContext ctxt, Class<?> targetType, String value, String failureMsg) {
      String field = path(ctxt.getParser().getParsingContext());
      if (targetType.isEnum()) {
        record(
            field,
            field
                + " '"
                + value
                + "' is not one of "
                + Arrays.toString(targetType.getEnumConstants()));
      } else {
        record(field, field + " '" + value + "' is not a " + simpleName(targetType));
      }
      return null;
    }

    @Override
    public Object handleWeirdNumberValue(
        DeserializationContext ctxt, Class<?> targetType, Number value, String failureMsg) {
      String field = path(ctxt.getParser().getParsingContext());
      record(field, field + " " + value + " is not a " + simpleName(targetType));
      return null;
    }

    @Override
    public Object handleUnexpectedToken(
        DeserializationContext ctxt,
        JavaType targetType,
        com.fasterxml.jackson.core.JsonToken t,
        JsonParser p,
        String failureMsg)
        throws IOException {
      String field = path(p.getParsingContext());
      record(
          field, field + " has the wrong type: expected " + simpleName(targetType.getRawClass()));
      p.skipChildren();
      return null;
    }

    private void record(String field, String problem) {
      fields.put(field, problem);
      problems.add(problem);
    }

    private static String simpleName(Class<?> type) {
      if (type == Integer.class || type == int.class || type == Long.class) {
        return "whole number";
      }
      if (type == Boolean.class || type == boolean.class) {
        return "boolean (true or false)";
      }
      if (List.class.isAssignableFrom(type)) {
        return "list";
      }
      if (type == String.class) {
        return "string";
      }
      return "mapping";
    }

    private static String path(JsonStreamContext context) {
      List<String> parts = new ArrayList<>();
      for (JsonStreamContext c = context; c != null && !c.inRoot(); c = c.getParent()) {
        if (c.inArray()) {
          parts.add(0, "[" + Math.max(0, c.getCurrentIndex()) + "]");
        } else if (c.getCurrentName() != null) {
          parts.add(0, c.getCurrentName());
        }
      }
      StringBuilder out = new StringBuilder();
      for (String part : parts) {
        if (out.length() > 0 && !part.startsWith("[")) {
          out.append('.');
        }
        out.append(part);
      }
      return out.toString();
    }
  }
}
