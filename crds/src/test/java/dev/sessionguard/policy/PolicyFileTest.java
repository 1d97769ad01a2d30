package dev.sessionguard.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sessionguard.policy.PolicyValidator.Mode;
import java.util.List;
import org.junit.jupiter.api.Test;

class PolicyFileTest {

  @Test
  void standalone_file_needs_only_a_name_and_fills_every_default() throws Exception {
    PolicyFile file = PolicyFile.parse("name: demo\n", Mode.STANDALONE);

    assertThat(file.schemaVersion()).isEqualTo(PolicyFile.CURRENT_SCHEMA_VERSION);
    assertThat(file.generation()).isNull();
    assertThat(file.hash()).isNull();
    assertThat(file.spec().sessions.max).isEqualTo(100);
    assertThat(file.spec().sessions.perClient).isEqualTo(10);
    assertThat(file.spec().sessions.idleTimeout).isEqualTo("5m");
    assertThat(file.effectiveHash()).isEqualTo(PolicyHash.of(new SessionPolicySpec()));
  }

  @Test
  void yaml_and_json_read_the_same() throws Exception {
    PolicyFile yaml =
        PolicyFile.parse(
            "name: demo\nsessions:\n  max: 3\n  perClient: 2\nmode: DryRun\n", Mode.STANDALONE);
    PolicyFile json =
        PolicyFile.parse(
            "{\"name\":\"demo\",\"sessions\":{\"max\":3,\"perClient\":2},\"mode\":\"DryRun\"}",
            Mode.STANDALONE);

    assertThat(PolicyHash.of(yaml.spec())).isEqualTo(PolicyHash.of(json.spec()));
    assertThat(yaml.spec().mode).isEqualTo(SessionPolicySpec.Mode.DryRun);
  }

  @Test
  void json_that_only_yaml_accepts_is_still_read() throws Exception {
    // A comment is not JSON; YAML, which reads every policy file, takes it.
    PolicyFile file =
        PolicyFile.parse(
            "{\"name\": \"demo\", # the demo\n \"sessions\": {\"max\": 3, \"perClient\": 2}}",
            Mode.STANDALONE);

    assertThat(file.name()).isEqualTo("demo");
    assertThat(file.spec().sessions.max).isEqualTo(3);
  }

  @Test
  void written_file_reads_back_to_the_same_policy_and_hash() throws Exception {
    SessionPolicySpec spec = new SessionPolicySpec();
    spec.sessions.max = 7;
    spec.sessions.perClient = 3;
    spec.identity.trustedProxies.add("10.0.0.0/8");
    PolicyFile written = PolicyFile.of("p", 4L, spec);

    PolicyFile read = PolicyFile.parse(written.toJson(), Mode.STANDALONE);

    assertThat(read).usingRecursiveComparison().isEqualTo(written);
    assertThat(read.hash()).isEqualTo(PolicyHash.of(spec)).hasSize(64);
    assertThat(read.effectiveHash()).isEqualTo(written.hash());
  }

  @Test
  void the_file_hash_is_reported_as_written_even_when_it_differs() throws Exception {
    PolicyFile file = PolicyFile.parse("name: p\nhash: abc123\n", Mode.STANDALONE);

    assertThat(file.effectiveHash()).isEqualTo("abc123");
  }

  @Test
  void hash_changes_with_content_and_ignores_key_order() throws Exception {
    String a =
        PolicyFile.parse("name: p\nsessions: {max: 5, perClient: 2}\n", Mode.STANDALONE)
            .effectiveHash();
    String b =
        PolicyFile.parse("name: p\nsessions: {perClient: 2, max: 5}\n", Mode.STANDALONE)
            .effectiveHash();
    String c =
        PolicyFile.parse("name: p\nsessions: {perClient: 2, max: 6}\n", Mode.STANDALONE)
            .effectiveHash();

    assertThat(a).isEqualTo(b).isNotEqualTo(c);
  }

  @Test
  void explicit_null_keeps_the_default() throws Exception {
    PolicyFile file = PolicyFile.parse("name: p\nsessions:\n  max: null\n", Mode.STANDALONE);

    assertThat(file.spec().sessions.max).isEqualTo(100);
  }

  @Test
  void refuses_a_newer_schema_version_with_a_clear_message() {
    assertThatThrownBy(() -> PolicyFile.parse("schemaVersion: 2\nname: p\n", Mode.STANDALONE))
        .isInstanceOfSatisfying(
            InvalidPolicyException.class,
            e ->
                assertThat(e.problems())
                    .containsExactly(
                        "schemaVersion 2 is newer than this guard understands (1); upgrade the guard"));
  }

  @Test
  void lists_every_problem_of_a_bad_file() {
    String text =
        """
        sessions:
          max: many
          perClient: 20
          idleTimeout: 5 minutes
        mode: Sometimes
        sesions: {}
        """;
    assertThatThrownBy(() -> PolicyFile.parse(text, Mode.STANDALONE))
        .isInstanceOfSatisfying(
            InvalidPolicyException.class,
            e ->
                assertThat(e.problems())
                    .containsExactlyInAnyOrder(
                        "name is required",
                        "sessions.max 'many' is not a whole number",
                        "sessions.idleTimeout '5 minutes' is not a duration such as 300ms, 30s, 5m or 24h",
                        "mode 'Sometimes' is not one of [Enforce, DryRun]",
                        "sesions is not a policy field"));
  }

  @Test
  void a_key_given_twice_is_refused_in_yaml_and_in_json() {
    for (String text :
        List.of(
            "name: p\nsessions: {max: 5, perClient: 2}\nsessions: {idleTimeout: 5m}\n",
            "{\"name\":\"p\",\"sessions\":{\"max\":5,\"max\":7}}")) {
      assertThatThrownBy(() -> PolicyFile.parse(text, Mode.STANDALONE))
          .as(text)
          .isInstanceOfSatisfying(
              InvalidPolicyException.class,
              e ->
                  assertThat(e.problems())
                      .containsExactly(
                          "key '"
                              + (text.startsWith("{") ? "max" : "sessions")
                              + "' is given twice in one mapping (the second would replace the"
                              + " first)"));
    }
  }

  @Test
  void a_fraction_where_a_whole_number_belongs_is_refused_not_rounded() {
    assertThatThrownBy(
            () -> PolicyFile.parse("name: p\nsessions: {perClient: 2.5}\n", Mode.STANDALONE))
        .isInstanceOfSatisfying(
            InvalidPolicyException.class,
            e ->
                assertThat(e.problems())
                    .containsExactly("sessions.perClient 2.5 is not a whole number"));
  }

  @Test
  void refuses_text_that_is_not_a_mapping() {
    assertThatThrownBy(() -> PolicyFile.parse("- a\n- b\n", Mode.STANDALONE))
        .isInstanceOfSatisfying(
            InvalidPolicyException.class,
            e ->
                assertThat(e.problems())
                    .containsExactly("a policy file is a mapping of name and spec fields"));
  }
}
