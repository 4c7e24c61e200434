package io.dynoffheap.arrow;

import static io.dynoffheap.arrow.TaskTrees.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.memory.SpillPhase;
import io.dynoffheap.memory.TreeMemoryConsumer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.junit.jupiter.api.Test;

/**
 * Several threads allocate, release and hand buffers to each other's child allocators while
 * another thread keeps shrinking the tree: the totals stay exact and end at zero.
 */
class ConcurrentArrowTest {
  private static final int THREADS = 4;
  private static final int ROUNDS = 3000;

  @Test
  void threadsAllocatingReleasingAndTransferringKeepTheTotalsExact() throws Exception {
    TreeMemoryConsumer consumer = TaskTrees.staticSplit(512);
    TaskAllocator task = TaskAllocator.open(consumer.root(), "arrow", MIB);
    List<BufferAllocator> children = new ArrayList<>();
    List<ConcurrentLinkedQueue<ArrowBuf>> inboxes = new ArrayList<>();
    for (int i = 0; i < THREADS; i++) {
      children.add(task.allocator().newChildAllocator("worker-" + i, 0, Long.MAX_VALUE));
      inboxes.add(new ConcurrentLinkedQueue<>());
    }
    ExecutorService pool = Executors.newFixedThreadPool(THREADS + 1);
    CountDownLatch start = new CountDownLatch(1);
    AtomicBoolean working = new AtomicBoolean(true);
    try {
      List<Future<?>> workers = new ArrayList<>();
      for (int i = 0; i < THREADS; i++) {
        int me = i;
        workers.add(pool.submit(() -> {
          start.await();
          work(me, children, inboxes);
          return null;
        }));
      }
      Future<Long> shrinker = pool.submit(() -> {
        start.await();
        long shrunk = 0;
        while (working.get()) {
          shrunk += consumer.root().spill(SpillPhase.SHRINK, MIB);
          Thread.onSpinWait();
        }
        return shrunk;
      });
      start.countDown();
      for (Future<?> worker : workers) {
        worker.get(60, TimeUnit.SECONDS);
      }
      working.set(false);
      assertTrue(shrinker.get(10, TimeUnit.SECONDS) >= 0);
    } finally {
      pool.shutdownNow();
    }
    for (ConcurrentLinkedQueue<ArrowBuf> inbox : inboxes) {
      inbox.forEach(ArrowBuf::close);
    }

    assertEquals(0, task.allocator().getAllocatedMemory());
    assertEquals(0, task.listener().allocatedBytes());
    assertEquals(0, task.listener().reservedBytes());
    assertEquals(0, task.node().usedBytes());
    assertTrue(task.node().peakBytes() >= MIB);
    children.forEach(BufferAllocator::close);
    assertEquals(List.of(), task.close());
    assertEquals(List.of(), consumer.close());
    assertEquals(0, consumer.getUsed());
  }

  /** Random buffers, some kept, some sent to the next worker's allocator, the rest released. */
  private static void work(int me, List<BufferAllocator> children,
      List<ConcurrentLinkedQueue<ArrowBuf>> inboxes) {
    Random random = new Random(me);
    BufferAllocator mine = children.get(me);
    int next = (me + 1) % children.size();
    ArrayDeque<ArrowBuf> live = new ArrayDeque<>();
    for (int round = 0; round < ROUNDS; round++) {
      ArrowBuf buffer = mine.buffer(1 + random.nextInt(256 * 1024));
      if (random.nextInt(8) == 0) {
        ArrowBuf moved = buffer.getReferenceManager()
            .transferOwnership(buffer, children.get(next)).getTransferredBuffer();
        buffer.close();
        inboxes.get(next).add(moved);
      } else {
        live.add(buffer);
      }
      if (live.size() > 8) {
        live.poll().close();
      }
      ArrowBuf received = inboxes.get(me).poll();
      if (received != null) {
        received.close();
      }
    }
    live.forEach(ArrowBuf::close);
  }
}
