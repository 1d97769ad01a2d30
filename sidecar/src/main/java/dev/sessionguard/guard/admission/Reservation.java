package dev.sessionguard.guard.admission;

/** A slot held for a session whose id the upstream has not issued yet. */
public final class Reservation {
  final String client;
  final boolean exempt;
  boolean open = true;

  Reservation(String client, boolean exempt) {
    this.client = client;
    this.exempt = exempt;
  }

  public String client() {
    return client;
  }
}
