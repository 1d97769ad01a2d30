package dev.sessionguard.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sessionguard.guard.Guard;
import dev.sessionguard.guard.config.GuardConfig;
import dev.sessionguard.policy.PolicyFile;
import dev.sessionguard.policy.PolicyValidator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Grafana dashboard parses and queries only metrics a running guard serves. */
class DashboardTest {

  private static final Pattern METRIC = Pattern.compile("\\bsessionguard_[a-z_]+\\b");
  private static final Pattern HISTOGRAM_SERIES = Pattern.compile("(.+)_(bucket|sum|count)");

  private static JsonNode dashboard;
  private static Map<String, String> guardMetrics;

  @BeforeAll
  static void read() throws Exception {
    dashboard =
        new ObjectMapper().readTree(Chart.DIR.resolve("dashboards/session-guard.json").toFile());
    guardMetrics = scrapeRealGuard();
  }

  /** Every sample name a real guard serves on /metrics (started on port 0), as name -> type. */
  private static Map<String, String> scrapeRealGuard() throws Exception {
    PolicyFile file = PolicyFile.parse("name: dashboard\n", PolicyValidator.Mode.STANDALONE);
    GuardConfig config =
        GuardConfig.of(
            file,
            new GuardConfig.Overrides(URI.create("http://127.0.0.1:9/mcp"), 0, 0, "127.0.0.1"),
            Instant.now());
    try (Guard guard = Guard.start(config, Clock.systemUTC())) {
      String text =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(
                          URI.create("http://127.0.0.1:" + guard.adminPort() + "/metrics"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      Map<String, String> metrics = new HashMap<>();
      for (String line : text.split("\n")) {
        if (line.startsWith("# TYPE ")) {
          String[] parts = line.substring(7).trim().split("\\s+");
          metrics.putIfAbsent(parts[0], parts[1]);
        } else if (!line.isBlank() && !line.startsWith("#")) {
          metrics.putIfAbsent(line.split("[{ ]", 2)[0], "sample");
        }
      }
      assertThat(metrics).containsKey("sessionguard_sessions_active");
      return metrics;
    }
  }

  @Test
  void every_metric_it_queries_is_one_the_guard_serves() {
    List<String> unknown = new ArrayList<>();
    for (String expr : queries()) {
      Matcher metric = METRIC.matcher(expr);
      while (metric.find()) {
        if (!served(metric.group())) {
          unknown.add(metric.group() + " in " + expr);
        }
      }
    }

    assertThat(queries()).isNotEmpty();
    assertThat(unknown).isEmpty();
  }

  @Test
  void shows_what_on_call_needs_instead_of_logs() {
    Set<String> queried = new TreeSet<>();
    queries().forEach(expr -> METRIC.matcher(expr).results().forEach(m -> queried.add(m.group())));

    assertThat(queried)
        .contains(
            "sessionguard_sessions_active",
            "sessionguard_sessions_limit",
            "sessionguard_refusals_total",
            "sessionguard_dryrun_refusals_total",
            "sessionguard_dryrun_ends_total",
            "sessionguard_sessions_ended_total",
            "sessionguard_inflight_requests",
            "sessionguard_streams_active",
            "sessionguard_upstream_request_duration_seconds_bucket",
            "sessionguard_policy_reloads_total",
            "sessionguard_policy_info");
    assertThat(queries())
        .as("latency percentiles")
        .anyMatch(q -> q.startsWith("histogram_quantile(0.99"))
        .anyMatch(q -> q.startsWith("histogram_quantile(0.5"));
  }

  @Test
  void every_panel_reads_the_chosen_data_source_and_has_a_title_and_description() {
    for (JsonNode panel : dashboard.path("panels")) {
      if (panel.path("type").asText().equals("row")) {
        continue;
      }
      assertThat(panel.path("title").asText()).isNotBlank();
      assertThat(panel.path("description").asText()).as(panel.path("title").asText()).isNotBlank();
      assertThat(panel.at("/datasource/uid").asText()).isEqualTo("${datasource}");
      assertThat(panel.path("targets")).isNotEmpty();
    }
  }

  @Test
  void choosing_policies_narrows_every_panel_through_the_pods_they_run_on() {
    // Panels filter on namespace and pod; with every pod chosen, "All" must stand for the pods
    // of the chosen policies (the query's values), not for any pod (an allValue of .*).
    JsonNode pod = null;
    for (JsonNode variable : dashboard.at("/templating/list")) {
      if (variable.path("name").asText().equals("pod")) {
        pod = variable;
      }
    }
    assertThat(pod).isNotNull();
    assertThat(pod.has("allValue")).isFalse();
    assertThat(pod.at("/query/query").asText()).contains("name=~\"$policy\"");
    for (String expr : queries()) {
      if (expr.contains("sessionguard_") && !expr.startsWith("label_values")) {
        assertThat(expr).as("a panel query").contains("pod=~\"$pod\"");
      }
    }
  }

  @Test
  void counters_are_read_as_rates_never_as_raw_totals() {
    for (String expr : queries()) {
      Matcher metric = METRIC.matcher(expr);
      while (metric.find()) {
        String name = metric.group();
        if (name.endsWith("_total") || name.endsWith("_bucket")) {
          assertThat(expr).as(name).containsAnyOf("rate(" + name, "increase(" + name);
        }
      }
    }
  }

  private static boolean served(String name) {
    if (guardMetrics.containsKey(name)) {
      return true;
    }
    Matcher series = HISTOGRAM_SERIES.matcher(name);
    return series.matches() && "histogram".equals(guardMetrics.get(series.group(1)));
  }

  /** Every PromQL query: panel targets and template variables. */
  private static List<String> queries() {
    List<String> queries = new ArrayList<>();
    for (JsonNode panel : dashboard.path("panels")) {
      panel.path("targets").forEach(target -> queries.add(target.path("expr").asText()));
    }
    for (JsonNode variable : dashboard.at("/templating/list")) {
      if (variable.path("type").asText().equals("query")) {
        queries.add(variable.at("/query/query").asText());
      }
    }
    return queries;
  }
}
