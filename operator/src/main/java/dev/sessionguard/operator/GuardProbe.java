package dev.sessionguard.operator;

import java.util.Optional;

/** Asks one pod's guard which policy it enforces. Tests substitute their own. */
public interface GuardProbe {
  /** The {@code hash} the guard at {@code podIp:adminPort} reports on {@code /policy}. */
  Optional<String> policyHash(String podIp, int adminPort);
}
