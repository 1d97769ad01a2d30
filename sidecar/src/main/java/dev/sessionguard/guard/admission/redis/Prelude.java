package dev.sessionguard.guard.admission.redis;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code common.lua}, cut into its top-level definitions, so that each script carries only those it
 * uses. Redis runs a script's whole text on every call: each {@code local function} there is a new
 * closure per call, and the full prelude cost more than half of a short script's time in Redis.
 *
 * <p>A definition is a {@code local} line at the start of a line (a constant, or a function up to
 * the {@code end} at the start of a line that closes it), with the comment lines just before it. A
 * script keeps every definition whose name appears in it, or in a definition it keeps. Lua sees a
 * local only after its definition, so a definition can use only those before it: one pass from the
 * last to the first finds them all, and the kept ones stay in their order.
 */
final class Prelude {
  private static final Pattern NAME =
      Pattern.compile("^local (?:function )?([A-Za-z_][A-Za-z0-9_]*)");
  private static final Pattern COMMENT = Pattern.compile("--[^\n]*");
  private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

  /** {@code common.lua}; built after the patterns above, which it needs. */
  static final Prelude COMMON = new Prelude(Script.resource("common.lua"));

  /** The text before the first definition (the file's own comment), kept in every script. */
  private final String head;

  private final List<Definition> definitions = new ArrayList<>();

  private record Definition(String name, String text) {}

  Prelude(String lua) {
    String[] lines = lua.split("\r?\n", -1); // a checkout may have turned LF into CRLF
    StringBuilder head = new StringBuilder();
    StringBuilder pending = new StringBuilder(); // comment lines waiting for their definition
    int i = 0;
    while (i < lines.length) {
      String line = lines[i++];
      Matcher name = NAME.matcher(line);
      if (!name.find()) {
        if (line.startsWith("--")) {
          pending.append(line).append('\n');
        } else if (!line.isBlank()) {
          throw new IllegalStateException("common.lua: not a definition: " + line);
        } else if (definitions.isEmpty()) {
          head.append(pending).append('\n');
          pending.setLength(0);
        } else {
          pending.setLength(0);
        }
        continue;
      }
      StringBuilder text = new StringBuilder(pending).append(line).append('\n');
      pending.setLength(0);
      if (line.startsWith("local function ") && !line.endsWith(" end")) {
        while (true) {
          if (i == lines.length) {
            throw new IllegalStateException("common.lua: no end for " + name.group(1));
          }
          String body = lines[i++];
          text.append(body).append('\n');
          if (body.equals("end")) {
            break;
          }
        }
      }
      definitions.add(new Definition(name.group(1), text.toString()));
    }
    this.head = head.toString();
  }

  /** {@code script} after the definitions it uses, in their order. */
  String before(String script) {
    Set<String> used = identifiers(script);
    boolean[] kept = new boolean[definitions.size()];
    for (int d = definitions.size() - 1; d >= 0; d--) {
      if (used.contains(definitions.get(d).name())) {
        kept[d] = true;
        used.addAll(identifiers(definitions.get(d).text()));
      }
    }
    StringBuilder out = new StringBuilder(head);
    for (int d = 0; d < kept.length; d++) {
      if (kept[d]) {
        out.append(definitions.get(d).text());
      }
    }
    return out.append('\n').append(script).toString();
  }

  /** The names defined, in order. */
  List<String> names() {
    return definitions.stream().map(Definition::name).toList();
  }

  /** The identifiers in {@code lua}, outside its comments (prose there may name anything). */
  private static Set<String> identifiers(String lua) {
    Set<String> names = new HashSet<>();
    Matcher m = IDENTIFIER.matcher(COMMENT.matcher(lua).replaceAll(""));
    while (m.find()) {
      names.add(m.group());
    }
    return names;
  }
}
