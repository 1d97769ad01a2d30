package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** How a body is read into memory taken from the body budget. */
class BoundedBodyTest {
  final BodyBudget budget = new BodyBudget(1 << 20);

  /**
   * Gives {@code body} {@code step} bytes a read at most, as a slow client sends it, noting at each
   * read how much of the budget the body holds against what it has sent.
   */
  final class Trickle extends InputStream {
    final byte[] body;
    final int step;
    int at;
    long worst = Long.MIN_VALUE; // held - 2 * sent, the most seen

    Trickle(byte[] body, int step) {
      this.body = body;
      this.step = step;
    }

    private void note() {
      long held = budget.capacity() - budget.available();
      worst = Math.max(worst, held - 2L * at);
    }

    @Override
    public int read() {
      note();
      return at < body.length ? body[at++] & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      note();
      if (at == body.length) {
        return -1;
      }
      int n = Math.min(Math.min(len, step), body.length - at);
      System.arraycopy(body, at, b, off, n);
      at += n;
      return n;
    }

    @Override
    public int available() {
      return 0; // nothing more has come
    }
  }

  static byte[] bytes(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }

  @Test
  void a_body_sent_slowly_holds_at_most_twice_what_has_come_and_its_first_kilobyte()
      throws Exception {
    for (int size : new int[] {1, 1000, 16 * 1024, 32 * 1024, 100_000}) {
      for (boolean declared : new boolean[] {true, false}) {
        byte[] body = bytes(size);
        Trickle in = new Trickle(body, 7);
        try (BodyBudget.Held held = budget.hold()) {
          byte[] read = BoundedBody.readAll(() -> in, declared ? size : -1, 1 << 20, held);
          assertThat(read).isEqualTo(body);
          assertThat(in.worst).as("size %d declared %s", size, declared).isLessThanOrEqualTo(1024);
          // once joined, a body holds its size
          assertThat(budget.capacity() - budget.available()).isEqualTo(size);
        }
        assertThat(budget.available()).isEqualTo(budget.capacity());
      }
    }
  }

  @Test
  void a_body_that_came_whole_is_read_into_one_piece_of_its_size() throws Exception {
    byte[] body = bytes(10_000);
    InputStream whole =
        new InputStream() {
          int at;

          @Override
          public int read() {
            return at < body.length ? body[at++] & 0xff : -1;
          }

          @Override
          public int read(byte[] b, int off, int len) {
            int n = Math.min(len, body.length - at);
            if (n == 0) {
              return -1;
            }
            System.arraycopy(body, at, b, off, n);
            at += n;
            return n;
          }

          @Override
          public int available() {
            return body.length - at;
          }
        };
    try (BodyBudget.Held held = budget.hold()) {
      assertThat(BoundedBody.readAll(() -> whole, body.length, 1 << 20, held)).isEqualTo(body);
      assertThat(budget.capacity() - budget.available()).isEqualTo(body.length); // never joined
    }
  }

  @Test
  void nothing_is_read_or_taken_for_a_body_refused_by_its_declared_length() throws Exception {
    BoundedBody.Source never =
        () -> {
          throw new AssertionError("opened: Jetty would have sent 100 Continue");
        };
    try (BodyBudget.Held held = budget.hold()) {
      assertThatThrownBy(() -> BoundedBody.readAll(never, 600_000, 1 << 30, held))
          .isInstanceOf(BoundedBody.TooLarge.class); // more than the budget could ever hold
      try (BodyBudget.Held other = budget.hold()) {
        other.take(700_000);
        assertThatThrownBy(() -> BoundedBody.readAll(never, 200_000, 1 << 30, held))
            .isInstanceOf(BodyBudget.Exhausted.class); // not now
      }
      assertThatThrownBy(() -> BoundedBody.readAll(never, 2_000, 1_000, held))
          .isInstanceOf(BoundedBody.TooLarge.class); // over the policy's limit
    }
    assertThat(budget.available()).isEqualTo(budget.capacity());
  }

  @Test
  void a_body_shorter_than_declared_fails_and_gives_everything_back() {
    byte[] body = bytes(5_000);
    try (BodyBudget.Held held = budget.hold()) {
      assertThatThrownBy(
              () -> BoundedBody.readAll(() -> new Trickle(body, 100), 9_000, 1 << 20, held))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("5000 of 9000");
    }
    assertThat(budget.available()).isEqualTo(budget.capacity());
  }
}
