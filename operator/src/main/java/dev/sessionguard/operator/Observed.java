package dev.sessionguard.operator;

import io.fabric8.kubernetes.api.model.Service;
import java.util.Set;

/**
 * What a reconcile learnt about the target before the dependents are written: the Service and the
 * NetworkPolicy follow it. Passed to them through the workflow's context.
 *
 * @param targetService the Service that already exposes the target's pods, or null
 * @param toolHive whether the target is a ToolHive VirtualMCPServer (its Service uses ClientIP)
 * @param enforcing whether every pod the target should run enforces the current policy
 * @param adminNamespaces namespaces whose pods may reach the guards' admin port
 */
record Observed(
    Service targetService, boolean toolHive, boolean enforcing, Set<String> adminNamespaces) {
  static final String KEY = Observed.class.getName();
}
