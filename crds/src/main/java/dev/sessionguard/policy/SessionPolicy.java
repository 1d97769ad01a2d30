package dev.sessionguard.policy;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** A policy that caps and reaps the MCP sessions of one workload. */
@Group(SessionPolicy.GROUP)
@Version(SessionPolicy.VERSION)
@ShortNames("sp")
@AdditionalPrinterColumn(
    name = "Target",
    jsonPath = ".spec.targetRef.name",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Max",
    jsonPath = ".spec.sessions.max",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Per-Client",
    jsonPath = ".spec.sessions.perClient",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Idle",
    jsonPath = ".spec.sessions.idleTimeout",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Enforcing",
    jsonPath = ".status.pods.enforcing",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(
    name = "Ready",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Age",
    jsonPath = ".metadata.creationTimestamp",
    type = AdditionalPrinterColumn.Type.DATE)
public class SessionPolicy extends CustomResource<SessionPolicySpec, SessionPolicyStatus>
    implements Namespaced {
  public static final String GROUP = "sessionguard.dev";
  public static final String VERSION = "v1alpha1";
  private static final long serialVersionUID = 1L;
}
