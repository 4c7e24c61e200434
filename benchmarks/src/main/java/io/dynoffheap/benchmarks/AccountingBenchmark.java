package io.dynoffheap.benchmarks;

import io.dynoffheap.memory.Borrowing;
import io.dynoffheap.memory.ExecutorQuota;
import io.dynoffheap.memory.GcCoordinator;
import io.dynoffheap.memory.HeapShrink;
import io.dynoffheap.memory.IdleReclaim;
import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.MemoryStats;
import io.dynoffheap.memory.ShortfallLadder;
import io.dynoffheap.memory.TreeMemoryConsumer;
import io.dynoffheap.memory.TreeNode;
import java.lang.reflect.Field;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.AllocationManager;
import org.apache.arrow.memory.AllocationReservation;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.spark.SparkConf;
import org.apache.spark.memory.MemoryConsumer;
import org.apache.spark.memory.MemoryManager;
import org.apache.spark.memory.TaskMemoryManager;
import org.apache.spark.memory.UnifiedMemoryManager;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Throughput of one reserve + release of native memory: the plugin's memory core against Apache
 * Arrow Java's allocator accounting, for the same number of bytes. Run it through
 * {@link AccountingReport}, which runs every method with 1 and 2 threads and prints ours/Arrow.
 *
 * <h2>Shape of the executor in both worlds</h2>
 * One executor-wide object shared by all benchmark threads (Arrow: a {@link RootAllocator}; ours:
 * the {@link ExecutorQuota}, the {@link MemoryStats} and, for the tree variants, Spark's
 * {@link UnifiedMemoryManager}), and one task per benchmark thread (Arrow: a child allocator of the
 * root; ours: a task's {@link TreeMemoryConsumer} with its own {@link TaskMemoryManager}, and a
 * {@link TreeNode} child under the consumer's root). Each task keeps {@link #RESIDENT} bytes
 * reserved the whole time, as a running task does, so every measured reservation is an increment
 * on a non-empty account (Spark otherwise drops and re-adds the task in its pool on every cycle).
 *
 * <h2>What is fair (read this before quoting a ratio)</h2>
 * Arrow's pure accounting, {@code Accountant.allocateBytes}, is package-private. Its public entry
 * that does exactly that and nothing else is {@link BufferAllocator#newReservation()}:
 * {@code add(n)} runs {@code allocateBytes(n)} on the child and, through it, on the root (per
 * level one fetch-add, a limit check and a peak check that writes only on a new peak), and
 * {@code close()} gives the bytes back with {@code releaseBytes} (one add per level); the only
 * extra is one small Reservation object, which the JIT removes (JMH's gc profiler shows no
 * allocation). That is the same job as our reserve + release, so the accounting group compares:
 * <ul>
 *   <li>{@link #arrowReservation}: Arrow child + root accounting (the baseline);
 *   <li>{@link #quotaAdmitRelease}: ours, quota only: {@link ExecutorQuota#tryAdmit} (reads
 *       {@code Runtime.totalMemory()}, one CAS, a peak check) and {@link ExecutorQuota#release};
 *   <li>{@link #treeNoSpark}: ours, the whole public tree path with Spark's memory manager taken
 *       out: child node → root node → the task's block reservation; when its headroom runs out,
 *       one 8 MiB block through the shortfall ladder, the quota and the consumer's Spark
 *       registration, over a {@link TaskMemoryManager} subclass that grants without bookkeeping.
 *       The public API builds a tree only on a TaskMemoryManager, so this is the closest public
 *       equivalent of "child allocator under a root whose parent is the quota, without Spark";
 *   <li>{@link #treeWithSpark}: ours, the production path: the same chain over a real
 *       TaskMemoryManager and UnifiedMemoryManager. The root reserves from the quota and Spark in
 *       blocks of {@link #BLOCK} and keeps up to two unused blocks, so in the steady state of this
 *       benchmark (one 64 KiB borrow and repay at a time) no op reaches the quota or Spark: the
 *       block taken by the first op stays as headroom. Like Arrow's, the measured path is the
 *       accounting that runs for every reservation; the per-block cost is paid once per 8 MiB.
 * </ul>
 * Arrow's everyday call, {@code buffer(n)} + {@code close()}, also mallocs and frees and creates a
 * ledger and an ArrowBuf, so it is compared only with our reserve + release that also mallocs and
 * frees the same bytes through the same call ({@code Unsafe.allocateMemory}, which Arrow's
 * {@code UnsafeAllocationManager} uses): the malloc group, {@link #arrowBuffer} against
 * {@link #quotaMalloc} and {@link #treeWithSparkMalloc}. No memory is touched in either. The
 * default size, 64 KiB, is below glibc's mmap threshold, so malloc is the ordinary heap path.
 *
 * <p>Two reference rows help read the others: {@link #committedHeapRead}, the
 * {@code Runtime.totalMemory()} call each quota admission makes (Arrow's accounting reads no
 * heap figure), and {@link #mallocFree}, the malloc + free alone.
 *
 * <p>Labels (a), (b), (c) in the report: (a) quota only, (b) tree with real Spark, (c) tree with
 * Spark taken out.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class AccountingBenchmark {
  static final long MIB = 1L << 20;
  /** Bytes every task keeps reserved while the benchmark runs. */
  static final long RESIDENT = 8 * MIB;
  /** The task root's reservation block: the default of spark.gluten.memory.reservationBlockSize. */
  static final long BLOCK = 8 * MIB;

  /** The executor: what all benchmark threads share. */
  @State(Scope.Benchmark)
  public static class Executor {
    /** Bytes per reservation: a power of two, so Arrow rounds nothing. */
    @Param({"65536"})
    public long bytes;

    RootAllocator arrowRoot;
    ExecutorQuota quota;
    MemoryStats stats;
    ShortfallLadder ladder;
    UnifiedMemoryManager spark;
    final AtomicLong taskIds = new AtomicLong();
    /** Per-thread states still open; the last one to close checks that nothing stays held. */
    final AtomicInteger openTasks = new AtomicInteger();

    @Setup(Level.Trial)
    public void open() {
      arrowRoot = new RootAllocator(RootAllocator.configBuilder()
          .allocationManagerFactory(unsafeAllocationManager())
          .maxAllocation(Long.MAX_VALUE)
          .build());
      // The budget never runs out here: what is measured is the admission that succeeds.
      long budget = Runtime.getRuntime().maxMemory() + 64L * 1024 * MIB;
      quota = new ExecutorQuota(budget, Runtime.getRuntime()::totalMemory);
      stats = new MemoryStats();
      GcCoordinator gc = new GcCoordinator(System::gc, HeapShrink.of(true),
          TimeUnit.SECONDS.toNanos(1), System::nanoTime);
      ladder = new ShortfallLadder(quota, new IdleReclaim(), gc, 3, 20);
      // Spark's execution pool is 0.6 x 4 GiB on-heap: far more than the tasks ever hold.
      SparkConf conf = new SparkConf(false)
          .set("spark.testing.memory", Long.toString(4096 * MIB))
          .set("spark.testing.reservedMemory", "0");
      spark = UnifiedMemoryManager.apply(conf, 2);
    }

    /**
     * Arrow's UnsafeAllocationManager (malloc through {@code Unsafe.allocateMemory}), which moved
     * from org.apache.arrow.memory (Arrow 12, Spark 3.5) to org.apache.arrow.memory.unsafe.
     */
    static AllocationManager.Factory unsafeAllocationManager() {
      for (String name : List.of("org.apache.arrow.memory.unsafe.UnsafeAllocationManager",
          "org.apache.arrow.memory.UnsafeAllocationManager")) {
        try {
          return (AllocationManager.Factory) Class.forName(name).getField("FACTORY").get(null);
        } catch (ClassNotFoundException tryNext) {
          // the other package
        } catch (ReflectiveOperationException e) {
          throw new IllegalStateException("cannot read " + name + ".FACTORY", e);
        }
      }
      throw new IllegalStateException("arrow-memory-unsafe is not on the class path");
    }

    long openTask() {
      openTasks.incrementAndGet();
      return taskIds.incrementAndGet();
    }

    /**
     * Called by each per-thread state when it closes. JMH may tear this benchmark-wide state
     * down before another thread has closed its own, so the final checks run here instead, in
     * whichever thread closes last.
     */
    void taskClosed() {
      if (openTasks.decrementAndGet() != 0) {
        return;
      }
      if (quota.nativeBytes() != 0 || stats.nativeBytes() != 0) {
        throw new IllegalStateException("reservations were not all released: quota "
            + quota.nativeBytes() + ", stats " + stats.nativeBytes());
      }
      arrowRoot.close(); // throws if a child or buffer leaked
    }
  }

  /** One task's Arrow allocator: a child of the executor's root. */
  @State(Scope.Thread)
  public static class ArrowTask {
    Executor executor;
    BufferAllocator child;
    ArrowBuf resident;
    long bytes;

    @Setup(Level.Trial)
    public void open(Executor executor) {
      this.executor = executor;
      bytes = executor.bytes;
      child = executor.arrowRoot.newChildAllocator("task-" + executor.openTask(), 0,
          Long.MAX_VALUE);
      resident = child.buffer(RESIDENT);
    }

    @TearDown(Level.Trial)
    public void close() {
      resident.close();
      child.close(); // throws if this task leaked
      executor.taskClosed();
    }
  }

  /** The quota alone, no task state. */
  @State(Scope.Thread)
  public static class QuotaOnly {
    Executor executor;
    ExecutorQuota quota;
    long bytes;

    @Setup(Level.Trial)
    public void open(Executor executor) {
      this.executor = executor;
      executor.openTask();
      quota = executor.quota;
      bytes = executor.bytes;
    }

    @TearDown(Level.Trial)
    public void close() {
      executor.taskClosed();
    }
  }

  /** One task's tree over a real Spark TaskMemoryManager. */
  @State(Scope.Thread)
  public static class SparkTask {
    Executor executor;
    TaskTree tree;
    long bytes;

    @Setup(Level.Trial)
    public void open(Executor executor) {
      this.executor = executor;
      long id = executor.openTask();
      tree = new TaskTree(new TaskMemoryManager(executor.spark, id), id, executor);
      bytes = executor.bytes;
    }

    @TearDown(Level.Trial)
    public void close() {
      tree.close();
      executor.taskClosed();
    }
  }

  /** One task's tree over a TaskMemoryManager that grants without asking Spark's pools. */
  @State(Scope.Thread)
  public static class NoSparkTask {
    Executor executor;
    TaskTree tree;
    long bytes;

    @Setup(Level.Trial)
    public void open(Executor executor) {
      this.executor = executor;
      long id = executor.openTask();
      tree = new TaskTree(new GrantingTaskMemoryManager(executor.spark, id), id, executor);
      bytes = executor.bytes;
    }

    @TearDown(Level.Trial)
    public void close() {
      tree.close();
      executor.taskClosed();
    }
  }

  // ---- accounting only ------------------------------------------------------------------------

  /**
   * {@code add(int)}: the only size type Arrow 12 (Spark 3.5) has; Arrow 18 deprecates it in
   * favour of {@code add(long)}, to which it only casts.
   */
  @Benchmark
  @SuppressWarnings({"removal", "deprecation"})
  public boolean arrowReservation(ArrowTask task) {
    AllocationReservation reservation = task.child.newReservation();
    boolean ok = reservation.add((int) task.bytes);
    reservation.close();
    return check(ok);
  }

  @Benchmark
  public boolean quotaAdmitRelease(QuotaOnly q) {
    boolean ok = q.quota.tryAdmit(q.bytes);
    q.quota.release(q.bytes);
    return check(ok);
  }

  @Benchmark
  public boolean treeNoSpark(NoSparkTask task) {
    return task.tree.borrowAndRepay(task.bytes);
  }

  @Benchmark
  public boolean treeWithSpark(SparkTask task) {
    return task.tree.borrowAndRepay(task.bytes);
  }

  // ---- accounting plus malloc/free of the same bytes -------------------------------------------

  @Benchmark
  public long arrowBuffer(ArrowTask task) {
    ArrowBuf buffer = task.child.buffer(task.bytes);
    long address = buffer.memoryAddress();
    buffer.close();
    return address;
  }

  @Benchmark
  public long quotaMalloc(QuotaOnly q) {
    check(q.quota.tryAdmit(q.bytes));
    long address = NativeMemory.allocate(q.bytes);
    NativeMemory.free(address);
    q.quota.release(q.bytes);
    return address;
  }

  @Benchmark
  public long treeWithSparkMalloc(SparkTask task) {
    TreeNode node = task.tree.node;
    check(node.borrow(task.bytes).isGranted());
    long address = NativeMemory.allocate(task.bytes);
    NativeMemory.free(address);
    node.repay(task.bytes);
    return address;
  }

  // ---- references, to read the rows above ----------------------------------------------------

  /** The committed-heap read ({@code Runtime.totalMemory()}) that every quota admission makes. */
  @Benchmark
  public long committedHeapRead() {
    return Runtime.getRuntime().totalMemory();
  }

  /** malloc + free of the same bytes, without any accounting. */
  @Benchmark
  public long mallocFree(QuotaOnly q) {
    long address = NativeMemory.allocate(q.bytes);
    NativeMemory.free(address);
    return address;
  }

  private static boolean check(boolean granted) {
    if (!granted) {
      throw new IllegalStateException("a reservation was denied: the benchmark measures grants");
    }
    return true;
  }

  /**
   * One task's tree as the plugin builds it with dynamic sizing on: a dynamic consumer (its root
   * goes through the shortfall ladder to the quota and to Spark), a child node that is measured,
   * and a sibling that holds {@link #RESIDENT} bytes.
   */
  static final class TaskTree {
    final TaskMemoryManager tmm;
    final TreeMemoryConsumer consumer;
    final TreeNode node;
    final TreeNode resident;

    TaskTree(TaskMemoryManager tmm, long id, Executor executor) {
      this.tmm = tmm;
      consumer = TreeMemoryConsumer.dynamic(tmm, "task-" + id, BLOCK, executor.ladder,
          executor.stats);
      node = consumer.root().newChild("operator");
      resident = consumer.root().newChild("resident");
      resident.reserve(RESIDENT);
    }

    boolean borrowAndRepay(long bytes) {
      Borrowing borrowing = node.borrow(bytes);
      if (!borrowing.isGranted()) {
        throw new IllegalStateException("a reservation was denied: " + borrowing);
      }
      node.repay(bytes);
      return true;
    }

    void close() {
      resident.repay(RESIDENT);
      List<MemoryLeak> leaks = consumer.close();
      if (!leaks.isEmpty()) {
        throw new IllegalStateException("the benchmark leaked: " + leaks);
      }
      long left = tmm.cleanUpAllAllocatedMemory();
      if (left != 0) {
        throw new IllegalStateException("Spark still counted " + left + " bytes for the task");
      }
    }
  }

  /**
   * A TaskMemoryManager that grants every request at once and keeps no books: the tree and quota
   * path with Spark's memory manager taken out. Only public Spark API is used (the class and the
   * two methods are public).
   */
  static final class GrantingTaskMemoryManager extends TaskMemoryManager {
    GrantingTaskMemoryManager(MemoryManager memoryManager, long taskAttemptId) {
      super(memoryManager, taskAttemptId);
    }

    @Override
    public long acquireExecutionMemory(long required, MemoryConsumer consumer) {
      return required;
    }

    @Override
    public void releaseExecutionMemory(long size, MemoryConsumer consumer) {
      // nothing was booked
    }
  }

  /**
   * malloc and free through {@code Unsafe.allocateMemory/freeMemory}, the calls Arrow's
   * {@code UnsafeAllocationManager} makes (Arrow's own wrapper of them is not public in every
   * Arrow version the Spark lines bundle).
   */
  static final class NativeMemory {
    private static final sun.misc.Unsafe UNSAFE = unsafe();

    private NativeMemory() {}

    static long allocate(long bytes) {
      return UNSAFE.allocateMemory(bytes);
    }

    static void free(long address) {
      UNSAFE.freeMemory(address);
    }

    private static sun.misc.Unsafe unsafe() {
      try {
        Field field = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
        field.setAccessible(true);
        return (sun.misc.Unsafe) field.get(null);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }
  }
}
