package dev.sessionguard.guard.proxy;

import java.io.IOException;
import org.eclipse.jetty.io.AbstractEndPoint;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.internal.HttpConnection;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;

/**
 * Watches a client connection while an SSE answer is relayed to it, so that a client that hangs up
 * is seen at once, not at the next event the upstream sends (a standalone GET stream may stay quiet
 * for hours, holding its stream permit and, upstream, the session's one GET stream). Jetty reads
 * nothing from an HTTP/1.1 connection while it serves a request whose body it has read; this asks
 * for the next read itself. End of input: the upstream exchange is aborted, the relay fails and
 * everything it held is given back. Bytes instead (a request pipelined behind a stream, which
 * clients do not send): the connection closes once this answer ends, and watching stops.
 */
final class HangUpWatch implements Callback {
  private static final IOException STOPPED = new IOException("relay ended");

  private final EndPoint endPoint;
  private final UpstreamResponse upstream;
  private volatile boolean stopped;

  /** Whether this watch's read interest is registered (so {@link #stop} must withdraw it). */
  private volatile boolean armed;

  private HangUpWatch(EndPoint endPoint, UpstreamResponse upstream) {
    this.endPoint = endPoint;
    this.upstream = upstream;
  }

  /** Starts watching; null when the connection is read by someone already (nothing to do). */
  static HangUpWatch start(EndPoint endPoint, UpstreamResponse upstream) {
    HangUpWatch watch = new HangUpWatch(endPoint, upstream);
    return watch.arm() ? watch : null;
  }

  private boolean arm() {
    armed = true;
    boolean registered = endPoint.tryFillInterested(this);
    if (!registered) {
      armed = false;
    }
    return registered;
  }

  @Override
  public void succeeded() {
    armed = false;
    if (stopped) {
      return;
    }
    try {
      int n = endPoint.fill(BufferUtil.allocate(1)); // empty, in Jetty's flush mode
      if (n < 0) {
        upstream.abort(new IOException("the client closed the connection"));
      } else if (n == 0) {
        arm(); // woken for nothing: watch on
      } else if (endPoint.getConnection() instanceof HttpConnection http) {
        http.getGenerator().setPersistent(false); // what came cannot be served: close after
      }
    } catch (IOException gone) {
      upstream.abort(gone);
    }
  }

  @Override
  public void failed(Throwable cause) {
    armed = false;
    if (!stopped) {
      upstream.abort(cause); // the connection failed or closed
    }
  }

  @Override
  public InvocationType getInvocationType() {
    return InvocationType.NON_BLOCKING; // a read that does not wait and an abort: on the selector
  }

  /** Stops watching before Jetty reads the connection again for the next request. */
  void stop() {
    stopped = true;
    if (armed && endPoint instanceof AbstractEndPoint abstractEndPoint) {
      abstractEndPoint.getFillInterest().onFail(STOPPED); // withdraws this interest, if still set
    }
  }
}
