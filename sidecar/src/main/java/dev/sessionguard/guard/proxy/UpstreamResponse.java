package dev.sessionguard.guard.proxy;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.Response;
import org.eclipse.jetty.client.Result;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.util.thread.Invocable;

/**
 * The upstream's answer to one forwarded request, as the handler thread sees it: it waits once for
 * the headers, then takes the body chunk by chunk. Jetty's side reads each chunk where Jetty
 * serializes its own processing (on the selector, without a hand-off), keeps it here and wakes the
 * handler thread; a chunk that has already arrived is taken without waiting, so a JSON answer that
 * came with its headers is relayed in one go.
 *
 * <p>Close it when done: an answer not read to its end is aborted, which closes its connection.
 */
final class UpstreamResponse
    implements Response.ContentSourceListener, Response.CompleteListener, AutoCloseable {
  private final Request request;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final Runnable readNext =
      Invocable.from(Invocable.InvocationType.NON_BLOCKING, this::readNext);
  // Set by Jetty's threads under the lock, taken by the handler thread.
  private Response response;
  private Content.Source body;
  private Content.Chunk chunk;
  private Throwable failure;
  private boolean completed;
  private boolean closed; // given up by the guard: a chunk that arrives after is released at once
  // The handler thread's own.
  private boolean bodyEnded;

  private UpstreamResponse(Request request) {
    this.request = request;
  }

  /** Sends {@code request}; its answer arrives into the returned object. */
  static UpstreamResponse send(Request request) {
    UpstreamResponse answer = new UpstreamResponse(request);
    request.send(answer); // registers it for every event it listens to, its body included
    return answer;
  }

  @Override
  public void onContentSource(Response response, Content.Source body) {
    Content.Chunk first = body.read(); // often the whole body: it came with the headers
    lock.lock();
    try {
      this.response = response;
      this.body = body;
      if (closed) {
        release(first);
        return;
      }
      this.chunk = first;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (first == null) {
      body.demand(readNext);
    }
  }

  /**
   * Jetty's side of {@link #more}: reads the next chunk, or asks to be called when there is one.
   */
  private void readNext() {
    Content.Chunk next = body.read();
    if (next == null) {
      body.demand(readNext);
      return;
    }
    lock.lock();
    try {
      if (closed) {
        next.release();
        return;
      }
      chunk = next;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  private static void release(Content.Chunk chunk) {
    if (chunk != null) {
      chunk.release();
    }
  }

  @Override
  public void onComplete(Result result) {
    lock.lock();
    try {
      completed = true;
      failure = result.getFailure();
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /**
   * Waits up to {@code timeout} for the answer's headers. Returns null once they are here, else why
   * not: the exchange's failure (connect refused or timed out, reset, bad answer), or {@link
   * FirstByteTimeout} when nothing came in time (the exchange is then aborted).
   */
  Throwable awaitHeaders(Duration timeout) {
    long left = timeout.toNanos();
    lock.lock();
    try {
      while (response == null && !completed && left > 0) {
        left = changed.awaitNanos(left);
      }
      if (response != null) {
        return null;
      }
      if (completed) {
        return failure != null ? failure : new IOException("no answer");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      abort(e);
      return e;
    } finally {
      lock.unlock();
    }
    FirstByteTimeout timedOut = new FirstByteTimeout(timeout);
    abort(timedOut);
    return timedOut;
  }

  /** No answer headers within the first-byte timeout. */
  static final class FirstByteTimeout extends IOException {
    private static final long serialVersionUID = 1L;

    FirstByteTimeout(Duration timeout) {
      super("no response headers in " + timeout);
    }
  }

  int status() {
    return response.getStatus();
  }

  HttpFields headers() {
    return response.getHeaders();
  }

  /** The first value of a header, or null. */
  String header(String name) {
    return response.getHeaders().get(name);
  }

  List<String> headerValues(String name) {
    return response.getHeaders().getValuesList(name);
  }

  /** True when the next chunk has arrived: {@link #next} will not wait. */
  boolean ready() {
    lock.lock();
    try {
      return chunk != null || completed;
    } finally {
      lock.unlock();
    }
  }

  /**
   * The next chunk of the body (data, the end, or a failure), waiting until it arrives. Release it
   * once written, then call {@link #more} unless it was the last.
   */
  Content.Chunk next() throws InterruptedIOException {
    Content.Chunk next;
    lock.lock();
    try {
      while (chunk == null && !completed) {
        changed.await();
      }
      next = chunk;
      chunk = null;
      if (next == null) { // ended without another chunk: only a failure does that
        next = Content.Chunk.from(failure != null ? failure : new IOException("no body"), true);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      abort(e);
      throw new InterruptedIOException("interrupted while waiting for the upstream");
    } finally {
      lock.unlock();
    }
    if (next.isLast()) {
      bodyEnded = true;
    }
    return next;
  }

  /** Asks for the chunk after the one just taken; it may arrive before this returns. */
  void more() {
    body.demand(readNext);
  }

  /** Gives up on the exchange: its connection is closed, a waiting reader wakes to a failure. */
  void abort(Throwable cause) {
    request.abort(cause);
  }

  /** Aborts the exchange unless its body was read to the end. */
  @Override
  public void close() {
    if (!bodyEnded) {
      abort(new IOException("answer abandoned by the guard"));
    }
    lock.lock();
    try {
      closed = true;
      release(chunk);
      chunk = null;
    } finally {
      lock.unlock();
    }
  }
}
