package dev.sessionguard.operator;

import dev.sessionguard.policy.SessionPolicy;
import dev.sessionguard.policy.SessionPolicySpec;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.DeploymentBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.ServerRequest;
import io.fabric8.mockwebserver.ServerResponse;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * A CRUD-mode mock API server with the generated CRD installed. It records every request it
 * answers, and adds the operator's (verb, apiGroup, resource) triples to {@code
 * target/api-calls.txt}, which the chart's RBAC test compares with its ClusterRole.
 */
final class MockCluster implements AutoCloseable {
  static final String CRD = "/META-INF/fabric8/sessionpolicies.sessionguard.dev-v1.yml";
  static final Path API_CALLS = Path.of("target", "api-calls.txt");
  private static final Set<String> OPERATOR_CALLS = new ConcurrentSkipListSet<>();

  /** One answered request; {@code operator} when the operator's client sent it. */
  record Seen(String method, String path, int status, boolean operator) {}

  final KubernetesMockServer server;

  /** The test's own client (not recorded as the operator's). */
  final KubernetesClient client;

  private final List<Seen> seen = new CopyOnWriteArrayList<>();

  MockCluster() {
    Map<ServerRequest, Queue<ServerResponse>> responses = new HashMap<>();
    var dispatcher =
        new KubernetesMixedDispatcher(responses) {
          @Override
          public MockResponse dispatch(RecordedRequest request) {
            MockResponse response;
            try {
              response = super.dispatch(request);
            } catch (RuntimeException e) {
              // the mock lets a failed JSON Patch "test" op escape; the API server answers 422
              response =
                  new MockResponse()
                      .setResponseCode(422)
                      .setBody(
                          "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                              + "\"reason\":\"Invalid\",\"code\":422,\"message\":\"patch failed\"}");
            }
            var agent = request.getHeader("User-Agent");
            boolean operator = agent != null && agent.startsWith(SessionGuardOperator.USER_AGENT);
            seen.add(new Seen(request.getMethod(), request.getPath(), response.code(), operator));
            if (operator) {
              ApiCall.of(request.getMethod(), request.getPath()).ifPresent(OPERATOR_CALLS::add);
            }
            return response;
          }
        };
    server =
        new KubernetesMockServer(
            new Context(new com.fasterxml.jackson.databind.ObjectMapper()),
            new MockWebServer(),
            responses,
            dispatcher,
            false);
    server.init();
    client = server.createClient();
    try (var in = MockCluster.class.getResourceAsStream(CRD)) {
      client.apiextensions().v1().customResourceDefinitions().load(in).create();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A client configured as the operator's own, pointed at this server. */
  KubernetesClient operatorClient() {
    return SessionGuardOperator.client(server.createClient().getConfiguration());
  }

  /** Every answered request, in the order answered. */
  List<Seen> seen() {
    return List.copyOf(seen);
  }

  long count(Predicate<Seen> p) {
    return seen.stream().filter(p).count();
  }

  /** The operator's writes to a path that the server accepted (a 409 wrote nothing). */
  static Predicate<Seen> writesTo(String pathPart) {
    return s ->
        s.operator()
            && s.status() < 300
            && (s.method().equals("PATCH") || s.method().equals("PUT"))
            && s.path().contains(pathPart);
  }

  /** A Status the API server answers a refused request with. */
  static Map<String, Object> status(int code, String reason, String message) {
    return Map.of(
        "kind",
        "Status",
        "apiVersion",
        "v1",
        "status",
        "Failure",
        "reason",
        reason,
        "message",
        message,
        "code",
        code);
  }

  static SessionPolicy policy(String namespace, String name, String target) {
    var p = new SessionPolicy();
    p.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).build());
    var spec = new SessionPolicySpec();
    spec.targetRef = new SessionPolicySpec.TargetRef("apps/v1", "Deployment", target);
    p.setSpec(spec);
    return p;
  }

  /** A Deployment with one container named "mcp", as a user would have it. */
  Deployment deployment(String namespace, String name, int replicas) {
    return client
        .apps()
        .deployments()
        .inNamespace(namespace)
        .resource(
            new DeploymentBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(namespace)
                .endMetadata()
                .withNewSpec()
                .withReplicas(replicas)
                .withNewSelector()
                .addToMatchLabels("app", name)
                .endSelector()
                .withNewTemplate()
                .withNewMetadata()
                .addToLabels("app", name)
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("mcp")
                .withImage("ghcr.io/example/mcp:1")
                .addNewPort()
                .withContainerPort(4483)
                .endPort()
                .endContainer()
                .endSpec()
                .endTemplate()
                .endSpec()
                .build())
        .create();
  }

  /**
   * A NetworkPolicy a user wrote: ingress on {@code port} (a number or a port name) to the pods
   * labelled {@code label}={@code value}.
   */
  void networkPolicyAdmitting(
      String namespace, String name, String label, String value, IntOrString port) {
    client
        .network()
        .v1()
        .networkPolicies()
        .inNamespace(namespace)
        .resource(
            new NetworkPolicyBuilder()
                .withNewMetadata()
                .withName(name)
                .endMetadata()
                .withNewSpec()
                .withNewPodSelector()
                .addToMatchLabels(label, value)
                .endPodSelector()
                .addNewIngress()
                .addNewPort()
                .withPort(port)
                .endPort()
                .endIngress()
                .endSpec()
                .build())
        .create();
  }

  /**
   * A running pod with one container named "mcp", as the policy's target Deployment makes it now:
   * with its pod template's labels (so guarded by {@code policy} once injected).
   */
  void runningPod(String namespace, String name, String policy, String ip) {
    runningPod(namespace, name, policy, ip, true);
  }

  /** As above, with the guard container ready or not (its readiness probe failing). */
  void runningPod(String namespace, String name, String policy, String ip, boolean guardReady) {
    var target =
        client.resources(SessionPolicy.class).inNamespace(namespace).withName(policy).get();
    var ref = target.getSpec().targetRef;
    var apps = client.apps();
    var template =
        "StatefulSet".equals(ref.kind)
            ? apps.statefulSets()
                .inNamespace(namespace)
                .withName(ref.name)
                .get()
                .getSpec()
                .getTemplate()
            : apps.deployments()
                .inNamespace(namespace)
                .withName(ref.name)
                .get()
                .getSpec()
                .getTemplate();
    var labels = template.getMetadata().getLabels();
    client
        .pods()
        .inNamespace(namespace)
        .resource(
            new PodBuilder()
                .withNewMetadata()
                .withName(name)
                .addToLabels(labels)
                .addToLabels(PodTemplates.GUARDED_BY, policy)
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("mcp")
                .withImage("mcp")
                .endContainer()
                .endSpec()
                .withNewStatus()
                .withPhase("Running")
                .withPodIP(ip)
                .addNewContainerStatus()
                .withName(GuardContainer.NAME)
                .withReady(guardReady)
                .endContainerStatus()
                .endStatus()
                .build())
        .create();
  }

  /**
   * Edits an object as {@code kubectl edit} would: read, change, write with the read's
   * resourceVersion, and on 409 (the operator wrote in between) read again and retry.
   */
  <T extends HasMetadata> T edit(
      Class<T> type, String namespace, String name, UnaryOperator<T> change) {
    for (int attempt = 1; ; attempt++) {
      try {
        return client.resources(type).inNamespace(namespace).withName(name).edit(change);
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409 || attempt == 20) {
          throw e;
        }
      }
    }
  }

  /** {@link #edit} of a SessionPolicy. */
  SessionPolicy editPolicy(String namespace, String name, Consumer<SessionPolicy> change) {
    return edit(
        SessionPolicy.class,
        namespace,
        name,
        p -> {
          change.accept(p);
          return p;
        });
  }

  /** A StatefulSet with one container named "mcp" and pods labelled app=NAME. */
  StatefulSet statefulSet(String namespace, String name, int replicas) {
    return client
        .apps()
        .statefulSets()
        .inNamespace(namespace)
        .resource(
            new StatefulSetBuilder()
                .withNewMetadata()
                .withName(name)
                .withNamespace(namespace)
                .endMetadata()
                .withNewSpec()
                .withReplicas(replicas)
                .withNewTemplate()
                .withNewMetadata()
                .addToLabels("app", name)
                .endMetadata()
                .withNewSpec()
                .addNewContainer()
                .withName("mcp")
                .withImage("mcp")
                .endContainer()
                .endSpec()
                .endTemplate()
                .endSpec()
                .build())
        .create();
  }

  @Override
  public void close() {
    client.close();
    server.destroy();
    try {
      Files.createDirectories(API_CALLS.getParent());
      Files.write(API_CALLS, new TreeSet<>(OPERATOR_CALLS));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** "verb apiGroup resource[/subresource]" of a request, as RBAC names it. */
  static final class ApiCall {
    private ApiCall() {}

    /** Empty for discovery (/api, /apis/group/version), which RBAC grants everyone. */
    static java.util.Optional<String> of(String method, String pathAndQuery) {
      int q = pathAndQuery.indexOf('?');
      String path = q < 0 ? pathAndQuery : pathAndQuery.substring(0, q);
      String query = q < 0 ? "" : pathAndQuery.substring(q + 1);
      var parts = List.of(path.replaceFirst("^/", "").split("/"));
      boolean core = parts.get(0).equals("api");
      if (parts.size() <= (core ? 2 : 3)) {
        return java.util.Optional.empty();
      }
      String group = core ? "\"\"" : parts.get(1);
      List<String> rest = parts.subList(core ? 2 : 3, parts.size());
      if (rest.isEmpty()) {
        return java.util.Optional.empty();
      }
      if (rest.size() >= 3 && rest.get(0).equals("namespaces")) {
        rest = rest.subList(2, rest.size());
      }
      String resource = rest.get(0);
      boolean named = rest.size() >= 2;
      if (rest.size() >= 3) {
        resource = resource + "/" + rest.get(2);
      }
      String verb =
          switch (method) {
            case "GET" -> query.contains("watch=true") ? "watch" : named ? "get" : "list";
            case "POST" -> "create";
            case "PUT" -> "update";
            case "PATCH" -> "patch";
            case "DELETE" -> named ? "delete" : "deletecollection";
            default -> method.toLowerCase(java.util.Locale.ROOT);
          };
      return java.util.Optional.of(verb + " " + group + " " + resource);
    }
  }
}
