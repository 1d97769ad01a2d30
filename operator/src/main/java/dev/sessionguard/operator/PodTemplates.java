package dev.sessionguard.operator;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sessionguard.policy.SessionPolicySpec.TargetRef;
import io.fabric8.kubernetes.api.model.Quantity;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Edits a pod template held as plain maps (the JSON the API server sent), touching only the guard's
 * own container, volumes and label: everything else, fields this operator does not know included,
 * goes back exactly as it came.
 */
final class PodTemplates {
  static final String GUARDED_BY = "sessionguard.dev/guarded-by";

  /**
   * The pod label naming the workload the guard was put into ({@link #targetLabel}): after a
   * retarget, the former target's pods keep {@code guarded-by} until they roll, and this tells them
   * apart even where the new target's template has no label of its own (a VirtualMCPServer's).
   */
  static final String TARGET = "sessionguard.dev/target";

  /**
   * The pod annotation naming the settings the guard reads only at start ({@link
   * dev.sessionguard.policy.PolicyHash#ofStartSettings}): a change rolls the pods.
   */
  static final String START_SETTINGS = "sessionguard.dev/start-settings";

  /**
   * The pod annotation recording a grace period the operator raised, as {@code from 30 to 35}:
   * taking the guard out puts the workload's own value back, unless someone changed it since.
   */
  static final String GRACE_RAISED = "sessionguard.dev/grace-period-raised";

  private static final Pattern RAISED = Pattern.compile("from (\\d{1,18}) to (\\d{1,18})");

  private static final Set<String> GUARD_VOLUMES =
      Set.of(GuardContainer.POLICY_VOLUME, GuardContainer.TMP_VOLUME);

  private PodTemplates() {}

  /**
   * Puts the guard into {@code template}: its container and volumes replaced or appended, the pod
   * labels ({@link #GUARDED_BY}, {@link #TARGET} {@code target}) and start-settings annotation set,
   * the grace period raised to {@code minGraceSeconds} if lower (the value it had first is kept in
   * {@link #GRACE_RAISED}).
   *
   * @return whether anything changed
   */
  static boolean inject(
      Map<String, Object> template,
      String policy,
      String target,
      String startSettings,
      Map<String, Object> container,
      List<Map<String, Object>> volumes,
      long minGraceSeconds) {
    boolean changed = false;
    var labels = child(child(template, "metadata"), "labels");
    if (!policy.equals(labels.get(GUARDED_BY))) {
      labels.put(GUARDED_BY, policy);
      changed = true;
    }
    if (!target.equals(labels.get(TARGET))) {
      labels.put(TARGET, target);
      changed = true;
    }
    var annotations = child(child(template, "metadata"), "annotations");
    if (!startSettings.equals(annotations.get(START_SETTINGS))) {
      annotations.put(START_SETTINGS, startSettings);
      changed = true;
    }
    var spec = child(template, "spec");
    changed |= upsert(list(spec, "containers"), container);
    var volumeList = list(spec, "volumes");
    for (var volume : volumes) {
      changed |= upsert(volumeList, volume);
    }
    var grace = spec.get("terminationGracePeriodSeconds");
    // the API server's default is 30
    long current = grace instanceof Number n ? n.longValue() : 30;
    if (current < minGraceSeconds) {
      spec.put("terminationGracePeriodSeconds", minGraceSeconds);
      var raised = raised(annotations.get(GRACE_RAISED));
      long from = raised != null && raised[1] == current ? raised[0] : current;
      annotations.put(GRACE_RAISED, "from " + from + " to " + minGraceSeconds);
      changed = true;
    }
    return changed;
  }

  /**
   * Takes the guard's container, volumes and label out, unless another policy's guard is there (a
   * conflict's loser must not remove the winner's guard); whether anything changed.
   */
  static boolean remove(Map<String, Object> template, String policy) {
    boolean changed = false;
    var metadata = asMap(template.get("metadata"));
    var labels = metadata == null ? null : asMap(metadata.get("labels"));
    var holder = labels == null ? null : labels.get(GUARDED_BY);
    if (holder != null && !holder.equals(policy)) {
      return false;
    }
    if (holder != null) {
      labels.remove(GUARDED_BY);
      changed = true;
    }
    if (labels != null && labels.remove(TARGET) != null) {
      changed = true;
    }
    var annotations = metadata == null ? null : asMap(metadata.get("annotations"));
    var spec = asMap(template.get("spec"));
    if (annotations != null) {
      boolean removed = annotations.remove(START_SETTINGS) != null;
      var raisedValue = annotations.remove(GRACE_RAISED);
      removed |= raisedValue != null;
      var raised = raised(raisedValue);
      if (raised != null
          && spec != null
          && spec.get("terminationGracePeriodSeconds") instanceof Number n
          && n.longValue() == raised[1]) {
        spec.put("terminationGracePeriodSeconds", raised[0]); // not changed since: put back
      }
      if (removed && annotations.isEmpty()) {
        metadata.remove("annotations");
      }
      changed |= removed;
    }
    if (spec == null) {
      return changed;
    }
    if (spec.get("containers") instanceof List<?> containers) {
      changed |= containers.removeIf(c -> GuardContainer.NAME.equals(name(c)));
    }
    if (spec.get("volumes") instanceof List<?> list) {
      changed |= list.removeIf(v -> GUARD_VOLUMES.contains(name(v)));
      if (list.isEmpty()) {
        spec.remove("volumes");
      }
    }
    return changed;
  }

  /**
   * The {@link #TARGET} label's value for {@code ref}: {@code <kind>.<name>} in lower case, or,
   * where that is longer than a label value may be (63), its first 46 characters, a dot and 16 hex
   * digits of its SHA-256.
   */
  static String targetLabel(TargetRef ref) {
    var value = (ref.kind + "." + ref.name).toLowerCase(Locale.ROOT);
    if (value.length() <= 63) {
      return value;
    }
    try {
      var digest = MessageDigest.getInstance("SHA-256").digest(value.getBytes(UTF_8));
      return value.substring(0, 46) + "." + HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  /** The {@code from} and {@code to} of a {@link #GRACE_RAISED} value, or null if it is none. */
  private static long[] raised(Object annotation) {
    var m = annotation instanceof String s ? RAISED.matcher(s) : null;
    return m != null && m.matches()
        ? new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))}
        : null;
  }

  /** The template's container ports by name (the guard's included). */
  static Map<String, Integer> namedPorts(Map<String, Object> template) {
    var named = new java.util.HashMap<String, Integer>();
    var spec = asMap(template.get("spec"));
    if (spec != null && spec.get("containers") instanceof List<?> containers) {
      for (var c : containers) {
        var container = asMap(c);
        if (container != null && container.get("ports") instanceof List<?> ports) {
          for (var p : ports) {
            var port = asMap(p);
            if (port != null
                && port.get("name") instanceof String name
                && port.get("containerPort") instanceof Number number) {
              named.put(name, number.intValue());
            }
          }
        }
      }
    }
    return named;
  }

  static boolean hasGuard(Map<String, Object> template) {
    var spec = asMap(template.get("spec"));
    return spec != null
        && spec.get("containers") instanceof List<?> containers
        && containers.stream().anyMatch(c -> GuardContainer.NAME.equals(name(c)));
  }

  /** Replaces the entry with the same name unless it already says all {@code wanted} says. */
  private static boolean upsert(List<Object> entries, Map<String, Object> wanted) {
    for (int i = 0; i < entries.size(); i++) {
      if (Objects.equals(name(entries.get(i)), wanted.get("name"))) {
        // the API server adds defaults (imagePullPolicy, terminationMessagePath, ...): an entry
        // that holds everything wanted is current
        if (covers(entries.get(i), wanted)) {
          return false;
        }
        entries.set(i, wanted);
        return true;
      }
    }
    entries.add(wanted);
    return true;
  }

  /** Whether {@code actual} holds every field of {@code wanted}, recursively. */
  static boolean covers(Object actual, Object wanted) {
    if (wanted instanceof Map<?, ?> w) {
      if (!(actual instanceof Map<?, ?> a)) {
        return false;
      }
      return w.entrySet().stream()
          .allMatch(
              e ->
                  "resources".equals(e.getKey())
                      ? sameResources(a.get(e.getKey()), e.getValue())
                      : covers(a.get(e.getKey()), e.getValue()));
    }
    if (wanted instanceof List<?> w) {
      if (!(actual instanceof List<?> a) || a.size() != w.size()) {
        return false;
      }
      for (int i = 0; i < w.size(); i++) {
        if (!covers(a.get(i), w.get(i))) {
          return false;
        }
      }
      return true;
    }
    if (wanted instanceof Number w && actual instanceof Number a) {
      return w.longValue() == a.longValue() && w.doubleValue() == a.doubleValue();
    }
    return Objects.equals(actual, wanted);
  }

  /**
   * Whether a container's resources hold the wanted quantities: compared by amount, as the API
   * server stores them in its own canonical form ({@code 0.5} comes back as {@code 500m}, {@code
   * 1024Mi} as {@code 1Gi}), so a string comparison would rewrite the container every time.
   */
  private static boolean sameResources(Object actual, Object wanted) {
    if (!(wanted instanceof Map<?, ?> w) || !(actual instanceof Map<?, ?> a)) {
      return covers(actual, wanted);
    }
    for (var kind : w.entrySet()) { // requests, limits
      if (!(kind.getValue() instanceof Map<?, ?> amounts)
          || !(a.get(kind.getKey()) instanceof Map<?, ?> held)) {
        if (!covers(a.get(kind.getKey()), kind.getValue())) {
          return false;
        }
        continue;
      }
      for (var amount : amounts.entrySet()) {
        if (!sameAmount(held.get(amount.getKey()), amount.getValue())) {
          return false;
        }
      }
    }
    return true;
  }

  private static boolean sameAmount(Object actual, Object wanted) {
    if (actual == null || wanted == null) {
      return Objects.equals(actual, wanted);
    }
    try {
      return new Quantity(actual.toString())
              .getNumericalAmount()
              .compareTo(new Quantity(wanted.toString()).getNumericalAmount())
          == 0;
    } catch (IllegalArgumentException | ArithmeticException e) {
      return Objects.equals(actual, wanted); // not a quantity: as written
    }
  }

  private static Object name(Object entry) {
    var map = asMap(entry);
    return map == null ? null : map.get("name");
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> asMap(Object o) {
    return o instanceof Map<?, ?> ? (Map<String, Object>) o : null;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> child(Map<String, Object> parent, String key) {
    return (Map<String, Object>)
        parent.compute(key, (k, v) -> v instanceof Map ? v : new LinkedHashMap<>());
  }

  @SuppressWarnings("unchecked")
  private static List<Object> list(Map<String, Object> parent, String key) {
    return (List<Object>) parent.compute(key, (k, v) -> v instanceof List ? v : new ArrayList<>());
  }
}
