package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.eclipse.jetty.io.AbstractConnection;
import org.eclipse.jetty.io.ByteArrayEndPoint;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Only a connection resumed by a fast-path completion goes on in place; all else is pooled. */
class GuardThreadPoolTest {
  final GuardThreadPool pool = new GuardThreadPool(8, 2, 60_000);
  final List<Thread> ranOn = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    pool.start();
  }

  @AfterEach
  void stop() throws Exception {
    pool.stop();
  }

  /** A connection whose resumption notes the thread it runs on, as Jetty's HTTP connection does. */
  final class Resumed extends AbstractConnection implements Runnable {
    Resumed() {
      super(new ByteArrayEndPoint(), pool);
    }

    @Override
    public void onFillable() {}

    @Override
    public void run() {
      ranOn.add(Thread.currentThread());
    }
  }

  @Test
  void a_connection_resumed_while_a_fast_path_answer_completes_goes_on_in_place() {
    GuardThreadPool.succeedInPlace(Callback.from(() -> pool.execute(new Resumed())));

    assertThat(ranOn).containsExactly(Thread.currentThread());
  }

  @Test
  void other_work_and_a_second_resumption_are_dispatched_to_the_pool() {
    GuardThreadPool.succeedInPlace(
        Callback.from(
            () -> {
              pool.execute(() -> ranOn.add(Thread.currentThread())); // not a connection
              pool.execute(new Resumed()); // in place: the first resumption
              pool.execute(new Resumed()); // pooled: whatever the first one started
            }));
    pool.execute(new Resumed()); // no completion running

    await().untilAsserted(() -> assertThat(ranOn).hasSize(4));
    assertThat(ranOn.stream().filter(Thread.currentThread()::equals)).hasSize(1);
  }
}
