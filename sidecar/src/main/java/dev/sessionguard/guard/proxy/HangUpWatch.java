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
 * clients do not send): watching stops and the connection closes once this answer ends, since the
 * byte read here is not Jetty's to parse any more. {@link #stop} waits for a read under way, so
 * none takes a byte once Jetty reads the connection again.
 *
 * <p>The read interest is registered and withdrawn under this watch's lock, so none is left behind
 * once {@link #stop} returns: Jetty registers its own for the next request after that, and two
 * would make it fail the connection.
 */
final class HangUpWatch implements Callback {
  private static final IOException STOPPED = new IOException("relay ended");

  private final EndPoint endPoint;
  private final UpstreamResponse upstream;

  // Under this watch's lock.
  private boolean stopped;
  private boolean armed; // its read interest is registered: stop() withdraws it

  // Set by the selector's read, acted on by the relay's thread in stop(); under the lock.
  private boolean pipelined;
  private boolean filling; // a read is under way: stop() waits for it (it does not block)

  private HangUpWatch(EndPoint endPoint, UpstreamResponse upstream) {
    this.endPoint = endPoint;
    this.upstream = upstream;
  }

  /** Starts watching; null when the connection is read by someone already (nothing to do). */
  static HangUpWatch start(EndPoint endPoint, UpstreamResponse upstream) {
    HangUpWatch watch = new HangUpWatch(endPoint, upstream);
    synchronized (watch) {
      return watch.arm() ? watch : null;
    }
  }

  /** Registers the read interest unless stopped; under the lock. */
  private boolean arm() {
    if (stopped) {
      return false;
    }
    armed = endPoint.tryFillInterested(this);
    return armed;
  }

  @Override
  public void succeeded() {
    synchronized (this) {
      armed = false;
      if (stopped) {
        return;
      }
      filling = true; // stop() waits for this read: no byte is taken once Jetty reads again
    }
    int n = -1; // a read that fails, however: gone
    try {
      n = endPoint.fill(BufferUtil.allocate(1)); // empty, in Jetty's flush mode
    } catch (IOException | RuntimeException gone) {
      // n stays -1
    } finally {
      synchronized (this) { // whatever the read did: stop() must never wait for ever
        filling = false;
        notifyAll();
        if (n > 0) {
          pipelined = true;
        } else if (n == 0) {
          arm(); // woken for nothing: watch on (unless stopped meanwhile)
        }
      }
    }
    if (n < 0) {
      upstream.abort(new IOException("the client closed the connection"));
    }
  }

  @Override
  public void failed(Throwable cause) {
    boolean wasStopped;
    synchronized (this) {
      armed = false;
      wasStopped = stopped;
    }
    if (!wasStopped) {
      upstream.abort(cause); // the connection failed or closed
    }
  }

  @Override
  public InvocationType getInvocationType() {
    return InvocationType.NON_BLOCKING; // a read that does not wait and an abort: on the selector
  }

  /**
   * Stops watching, on the relay's thread, before the answer completes and Jetty reads the
   * connection again for the next request.
   */
  void stop() {
    boolean close;
    synchronized (this) {
      stopped = true;
      if (armed && endPoint instanceof AbstractEndPoint abstractEndPoint) {
        abstractEndPoint.getFillInterest().onFail(STOPPED); // calls failed(): armed is false after
      }
      boolean interrupted = false;
      while (filling) {
        try {
          wait(); // a non-blocking read on the selector: moments
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
      close = pipelined;
    }
    if (close) {
      closeAfterThisAnswer(endPoint); // what came next lost a byte here
    }
  }

  /**
   * Closes the connection once the answer being written ends: a byte of the request sent behind it
   * was read by the guard, so what follows is not Jetty's to parse any more.
   */
  static void closeAfterThisAnswer(EndPoint endPoint) {
    if (endPoint.getConnection() instanceof HttpConnection http) {
      http.getGenerator().setPersistent(false);
    }
  }
}
