package dev.sessionguard.guard.proxy;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The heap request bodies may take together while the guard reads and forwards them. Each body is
 * held whole (to read its JSON-RPC envelope and to forward it), before any cap applies: without a
 * bound, a few hundred requests of the largest allowed body, or a few clients sending them slowly,
 * would take the whole heap, and the guard would end on OutOfMemoryError. A body that does not fit
 * is refused with 503 and {@code Retry-After} ({@code body_memory}) instead.
 */
public final class BodyBudget {
  /** The variable that sets it, in bytes (else a quarter of the heap, at least 16 MiB). */
  public static final String ENV = "GUARD_BODY_MEMORY";

  private static final long FLOOR = 16L << 20;

  /** The least {@link #ENV} may set: room for a few pieces of bodies at all. */
  private static final long LEAST = 64L << 10;

  /** The budget ran out while a body was read. */
  static final class Exhausted extends IOException {
    private static final long serialVersionUID = 1L;

    Exhausted() {
      super("request bodies hold the memory they may");
    }
  }

  private final long capacity;
  private final AtomicLong available;

  public BodyBudget(long capacity) {
    if (capacity < LEAST) {
      throw new IllegalArgumentException("a body budget of " + capacity + " bytes holds no body");
    }
    this.capacity = capacity;
    this.available = new AtomicLong(capacity);
  }

  /** {@link #ENV} if set, else a quarter of the heap the JVM may use, at least 16 MiB. */
  public static BodyBudget of(Map<String, String> env) {
    String set = env.get(ENV);
    if (set != null && !set.isBlank()) {
      try {
        long bytes = Long.parseLong(set.trim());
        if (bytes >= LEAST) {
          return new BodyBudget(bytes);
        }
      } catch (NumberFormatException e) {
        // refused below
      }
      throw new IllegalArgumentException(
          ENV + " must be a number of bytes, at least " + LEAST + ", got " + set);
    }
    return new BodyBudget(Math.max(FLOOR, Runtime.getRuntime().maxMemory() / 4));
  }

  public long capacity() {
    return capacity;
  }

  /** Bytes not held by any body now. */
  public long available() {
    return available.get();
  }

  /** A request's share, empty until it reads its body; give it back with {@link Held#close}. */
  Held hold() {
    return new Held();
  }

  /** One request's share of the budget; used by the thread serving the request only. */
  final class Held implements AutoCloseable {
    private long held;

    /** Takes {@code bytes} more, or fails with nothing more taken. */
    void take(long bytes) throws Exhausted {
      if (bytes < 0) {
        throw new IllegalArgumentException("take " + bytes);
      }
      for (long a = available.get(); ; a = available.get()) {
        if (a < bytes) {
          throw new Exhausted();
        }
        if (available.compareAndSet(a, a - bytes)) {
          held += bytes;
          return;
        }
      }
    }

    /** Gives back {@code bytes} of what it took (no more than that). */
    void give(long bytes) {
      if (bytes < 0) {
        throw new IllegalArgumentException("give " + bytes);
      }
      long back = Math.min(bytes, held);
      held -= back;
      available.addAndGet(back);
    }

    /** What no body holds now. */
    long available() {
      return available.get();
    }

    /** All the budget there is, taken or not. */
    long capacity() {
      return capacity;
    }

    @Override
    public void close() {
      if (held > 0) {
        available.addAndGet(held);
        held = 0;
      }
    }
  }
}
