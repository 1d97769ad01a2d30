package dev.sessionguard.guard;

/** How the guard words a failure in its log and its answers. */
public final class Failures {
  private Failures() {}

  /**
   * The failure and, when deeper, its root cause in brackets: a wrapper's message ("Unable to
   * connect", "Couldn't retrieve remote JWK set") hides why (a refused login, a refused connection)
   * in its cause.
   */
  public static String describe(Throwable e) {
    if (e == null) {
      return "unknown";
    }
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String message =
        root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
    return e == root ? message : e.getMessage() + " (" + message + ")";
  }
}
