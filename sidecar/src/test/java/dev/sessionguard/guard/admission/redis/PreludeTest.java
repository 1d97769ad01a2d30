package dev.sessionguard.guard.admission.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PreludeTest {
  private static final String LUA =
      """
      -- the file's comment

      local P = ARGV[1]
      local K_A = P .. 'a'
      local function key(id) return P .. id end
      -- uses key
      local function one(id)
        return redis.call('GET', key(id))
      end
      local function two()
        -- one() is named only in this comment
        return redis.call('GET', K_A)
      end
      """;

  @Test
  void every_top_level_definition_of_common_lua_is_found() {
    long defined =
        Script.resource("common.lua").lines().filter(line -> line.startsWith("local ")).count();
    assertThat(Prelude.COMMON.names()).hasSize((int) defined).startsWith("P", "GUARD");
    assertThat(Prelude.COMMON.names()).contains("purge_dead_guards", "take_ownership");
  }

  @Test
  void a_script_carries_what_it_uses_and_what_that_uses_in_order() {
    String script = new Prelude(LUA).before("return one(ARGV[2])");

    assertThat(script)
        .startsWith("-- the file's comment\n")
        .contains("local P = ARGV[1]", "local function key(id)", "-- uses key\nlocal function one")
        .doesNotContain("K_A", "two")
        .endsWith("\nreturn one(ARGV[2])");
    assertThat(script.indexOf("local function key"))
        .isLessThan(script.indexOf("local function one"));
  }

  @Test
  void a_prelude_with_crlf_line_ends_is_cut_the_same() {
    String crlf = new Prelude(LUA.replace("\n", "\r\n")).before("return one(ARGV[2])");

    assertThat(crlf).isEqualTo(new Prelude(LUA).before("return one(ARGV[2])"));
  }

  @Test
  void names_in_comments_do_not_pull_definitions_in() {
    String script = new Prelude(LUA).before("-- not two, not one\nreturn two()");

    assertThat(script).contains("local function two()", "local K_A").doesNotContain("function one");
  }

  @Test
  void the_lookup_script_leaves_out_what_only_the_reaper_needs() {
    String lookup = Script.named("lookup").body();

    assertThat(lookup).contains("local function take_ownership", "local function touch_lease");
    assertThat(lookup).doesNotContain("local function purge", "local function add_session");
  }

  @Test
  void a_prelude_it_cannot_cut_is_refused_at_once() {
    assertThatThrownBy(() -> new Prelude("local function f()\n  return 1\n"))
        .hasMessageContaining("no end for f");
    assertThatThrownBy(() -> new Prelude("redis.call('DEL', 'x')\n"))
        .hasMessageContaining("not a definition");
  }
}
