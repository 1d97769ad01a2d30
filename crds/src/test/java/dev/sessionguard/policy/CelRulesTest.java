package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cel.common.types.SimpleType;
import dev.cel.compiler.CelCompiler;
import dev.cel.compiler.CelCompilerFactory;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelRuntime;
import dev.cel.runtime.CelRuntimeFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Evaluates the committed CRD's CEL rules ({@code x-kubernetes-validations}) as the API server
 * would, since the mock API server does not: each rule accepts a good spec and rejects a bad one
 * with the message a user reads.
 */
class CelRulesTest {
  private static final CelCompiler COMPILER =
      CelCompilerFactory.standardCelCompilerBuilder()
          .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
          .addVar("self", SimpleType.DYN)
          .build();
  private static final CelRuntime RUNTIME = CelRuntimeFactory.standardCelRuntimeBuilder().build();

  private static JsonNode specSchema() throws Exception {
    return PolicyJson.yaml()
        .readTree(Files.readString(Path.of(GeneratedCrdTest.NAME)))
        .at("/spec/versions/0/schema/openAPIV3Schema/properties/spec");
  }

  /** Messages of the rules at {@code schemaPath} that {@code value} breaks. */
  private static List<String> violations(String schemaPath, String yaml) throws Exception {
    JsonNode rules = specSchema().at(schemaPath + "/x-kubernetes-validations");
    assertThat(rules.isArray()).as("rules at " + schemaPath).isTrue();
    Object self = toCel(PolicyJson.yaml().readTree(yaml));
    List<String> broken = new ArrayList<>();
    for (JsonNode rule : rules) {
      var ast = COMPILER.compile(rule.get("rule").asText()).getAst();
      Object ok = RUNTIME.createProgram(ast).eval(Map.of("self", self));
      if (!Boolean.TRUE.equals(ok)) {
        broken.add(rule.get("message").asText());
      }
    }
    return broken;
  }

  private static Object toCel(JsonNode node) {
    if (node.isObject()) {
      Map<String, Object> map = new LinkedHashMap<>();
      node.properties().forEach(e -> map.put(e.getKey(), toCel(e.getValue())));
      return map;
    }
    if (node.isArray()) {
      List<Object> list = new ArrayList<>();
      node.forEach(n -> list.add(toCel(n)));
      return list;
    }
    if (node.isIntegralNumber()) {
      return node.longValue();
    }
    if (node.isBoolean()) {
      return node.booleanValue();
    }
    return node.asText();
  }

  @Test
  void per_client_sessions_may_not_exceed_max() throws Exception {
    assertThat(violations("/properties/sessions", "{max: 10, perClient: 10}")).isEmpty();
    assertThat(violations("/properties/sessions", "{max: 10, perClient: 11}"))
        .containsExactly("sessions.perClient must not exceed sessions.max");
  }

  @Test
  void idle_timeout_may_not_exceed_lifetime() throws Exception {
    assertThat(violations("/properties/sessions", "{idleTimeout: 90m, maxLifetime: 1h30m}"))
        .isEmpty();
    assertThat(violations("/properties/sessions", "{idleTimeout: 2h, maxLifetime: 1h}"))
        .containsExactly("sessions.idleTimeout must not exceed sessions.maxLifetime");
  }

  @Test
  void a_redis_lease_is_at_least_one_second() throws Exception {
    String redis = "/properties/store/properties/redis";
    assertThat(violations(redis, "{url: 'redis://r:6379', leaseTtl: 1s}")).isEmpty();
    assertThat(violations(redis, "{url: 'redis://r:6379'}")).isEmpty();
    assertThat(violations(redis, "{url: 'redis://r:6379', leaseTtl: 999ms}"))
        .containsExactly("store.redis.leaseTtl must be at least 1s");
  }

  @Test
  void per_client_in_flight_and_streams_may_not_exceed_their_max() throws Exception {
    assertThat(violations("/properties/requests", "{maxInFlight: 5, perClientInFlight: 5}"))
        .isEmpty();
    assertThat(violations("/properties/requests", "{maxInFlight: 5, perClientInFlight: 6}"))
        .containsExactly("requests.perClientInFlight must not exceed requests.maxInFlight");
    assertThat(violations("/properties/requests", "{maxStreams: 2, perClientStreams: 3}"))
        .containsExactly("requests.perClientStreams must not exceed requests.maxStreams");
  }

  @Test
  void guard_ports_must_differ_from_each_other_and_the_upstream() throws Exception {
    assertThat(violations("", "{}")).isEmpty();
    assertThat(violations("", "{guard: {port: 8000, adminPort: 8001}, upstream: {port: 8002}}"))
        .isEmpty();
    assertThat(violations("", "{guard: {port: 8000, adminPort: 8000}}"))
        .containsExactly("guard.port and guard.adminPort must differ");
    assertThat(violations("", "{upstream: {port: 4484}}"))
        .containsExactly(
            "upstream.port must differ from guard.port and guard.adminPort on loopback");
    assertThat(violations("", "{guard: {adminPort: 7000}, upstream: {port: 7000}}"))
        .containsExactly(
            "upstream.port must differ from guard.port and guard.adminPort on loopback");
    assertThat(violations("", "{upstream: {host: '127.0.0.2', port: 4484}}"))
        .containsExactly(
            "upstream.port must differ from guard.port and guard.adminPort on loopback");
    assertThat(violations("", "{upstream: {host: '0.0.0.0', port: 4484}}")).hasSize(1);
    assertThat(violations("", "{upstream: {host: '::ffff:127.0.0.1', port: 4484}}")).hasSize(1);
    // as the validator: a remote upstream may share the guard's port number
    assertThat(violations("", "{upstream: {host: mcp.other.svc, port: 4484}}")).isEmpty();
    assertThat(PolicyValidator.validate(remoteOnGuardPort(), PolicyValidator.Mode.STANDALONE))
        .isEmpty();
  }

  static SessionPolicySpec remoteOnGuardPort() {
    var spec = new SessionPolicySpec();
    spec.upstream.host = "mcp.other.svc";
    spec.upstream.port = 4484;
    return spec;
  }
}
