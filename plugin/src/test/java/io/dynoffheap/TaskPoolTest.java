package io.dynoffheap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Function;
import com.sun.jna.Pointer;
import io.dynoffheap.config.PluginSettings;
import io.dynoffheap.memory.ExecutorQuota;
import io.dynoffheap.memory.GcCoordinator;
import io.dynoffheap.memory.HeapShrink;
import io.dynoffheap.memory.IdleReclaim;
import io.dynoffheap.memory.MemoryLeak;
import io.dynoffheap.memory.MemoryStats;
import io.dynoffheap.memory.ShortfallLadder;
import io.dynoffheap.memory.TreeMemoryConsumer;
import io.dynoffheap.testing.SparkMemory;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.SparkConf;
import org.apache.spark.memory.MemoryMode;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.apache.spark.memory.TaskMemoryManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A real libdynoffheap pool bound to a node of a real task tree (dynamic sizing, Spark's own
 * TaskMemoryManager). Native allocations go through the pool's function table, as native code
 * using dynoffheap.h does.
 */
class TaskPoolTest {
  private static final long MIB = SparkMemory.MIB;
  private static final long BLOCK = MIB;

  private final TaskMemoryManager tmm = SparkMemory.taskMemoryManager(64, 0);
  private final AtomicLong heap = new AtomicLong(10 * MIB);
  private final ExecutorQuota quota = new ExecutorQuota(26 * MIB, heap::get);
  private final ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(),
      new GcCoordinator(() -> { }, HeapShrink.of(false), 0, System::nanoTime), 1, 1);
  private final TreeMemoryConsumer consumer =
      TreeMemoryConsumer.dynamic(tmm, "task-3", BLOCK, ladder, new MemoryStats());
  private final TaskNativeMemory task = new TaskNativeMemory(3, consumer,
      MemoryPlan.of(PluginSettings.from(new SparkConf(false)), 26 * MIB, 1, 1), BLOCK);
  private final TaskPool pool = task.newPool("native-op");

  @AfterEach
  void endTask() {
    task.close();
  }

  @Test
  void allocationsReserveWholeBlocksFromTheNode() {
    long ptr = alloc(pool, 100_000);
    assertNotEquals(0, ptr);
    assertEquals(BLOCK, pool.node().usedBytes());
    assertEquals(BLOCK, quota.nativeBytes());
    assertTrue(pool.used() >= 100_000);
    long big = alloc(pool, 3 * MIB);
    assertEquals(4 * BLOCK, pool.node().usedBytes(), "the first block's headroom + 3 more cover 3 MiB");
    free(pool, big);
    free(pool, ptr);
    assertTrue(pool.node().usedBytes() <= BLOCK, "keeps at most one block of slack");
  }

  @Test
  void aDeniedAllocationBecomesThePluginsErrorThroughTheCallWrapper() {
    alloc(pool, 10 * MIB);
    SparkOutOfMemoryError error = assertThrows(SparkOutOfMemoryError.class,
        () -> pool.call(() -> alloc(pool, 10 * MIB) == 0 ? -1 : 0));
    String message = error.getMessage();
    assertTrue(message.contains("budget 27262976"), message);
    assertTrue(message.contains("native-op: used 11534336"), message);
    assertTrue(message.contains("spark.executor.memory"), message);
    assertTrue(pool.node().usedBytes() == 11 * MIB, "the denied request left nothing reserved");
  }

  @Test
  void aNativeAllocationNoBudgetCouldHoldIsABadArgumentThroughTheCallWrapper() {
    long absurd = 1L << 50;
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> pool.call(() -> alloc(pool, absurd) == 0 ? -1 : 0));
    String message = error.getMessage();
    assertTrue(message.startsWith("native call on memory node 'task-3/native-op' failed with -1: "
        + "it asked the pool for a wrong size. reserve(bytes) on TreeNode(task-3/native-op"),
        message);
    assertTrue(message.contains("is outside the allowed range [1 B, 17592186044416 (16.0 TiB)]"),
        message);
    assertEquals(0, pool.node().usedBytes(), "nothing was reserved");
    assertEquals(0, quota.nativeBytes());
  }

  @Test
  void aTaskNodeWithACapacityNoBudgetCouldHoldIsRefused() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> task.newNode("codec", Long.MAX_VALUE - 1, null));
    assertTrue(error.getMessage().contains("newChild(\"codec\", childCapacity) on TreeNode(task-3"
        + ", used=0): childCapacity = 9223372036854775806 (8388608.0 TiB) is outside the allowed "
        + "range [1 B, 17592186044416 (16.0 TiB)], or 9223372036854775807 for no limit"),
        error.getMessage());
    assertThrows(IllegalArgumentException.class, () -> task.newNode("codec", -1, null));
  }

  @Test
  void anOperatorFailureThatIsNoDenialIsReportedWithThePoolsErrorText() {
    IllegalStateException error = assertThrows(IllegalStateException.class,
        () -> pool.call(() -> alloc(pool, 0) == 0 ? -2 : 0));
    assertTrue(error.getMessage().contains("task-3/native-op"), error.getMessage());
    assertTrue(error.getMessage().contains("failed with -2"), error.getMessage());
  }

  @Test
  void aDoubleFreeDuringACallFailsItWithTheLibrarysText() {
    long ptr = alloc(pool, 1000);
    IllegalStateException error = assertThrows(IllegalStateException.class,
        () -> pool.call(() -> {
          free(pool, ptr);
          free(pool, ptr);
          return 0;
        }));
    String message = error.getMessage();
    assertTrue(message.contains("native code misused memory node 'task-3/native-op': 1 call(s)"),
        message);
    assertTrue(message.contains("free: 0x"), message);
    assertTrue(message.contains("was already freed (double free) (pool 'task-3/native-op')"),
        message);
    assertTrue(message.contains("DYNOFFHEAP_DEBUG=1"), message);
    assertEquals(0, pool.used(), "the second free changed nothing");
    assertEquals(0, pool.call(() -> 0), "a call without a new misuse passes");
  }

  @Test
  void sparkSpillShrinksThePoolsUnusedBlocks() {
    long ptr = alloc(pool, 9 * MIB);
    free(pool, ptr);
    long slack = pool.node().usedBytes();
    assertTrue(slack > 0);
    long headroom = consumer.reservedBytes() - consumer.root().usedBytes();
    heap.set(26 * MIB - quota.nativeBytes()); // the budget has no room for the JVM consumer
    new SparkMemory.JvmConsumer(tmm, MemoryMode.ON_HEAP).take(38 * MIB);
    assertEquals(0, pool.node().usedBytes());
    assertEquals(slack + headroom, consumer.spilledBytes(), "the pool's and the task's headroom");
    assertEquals(0, quota.nativeBytes());
  }

  @Test
  void anIdleReclaimTakesThePoolsUnusedBlocksAndTheHeadroomBackForTheQuota() {
    long ptr = alloc(pool, 3 * MIB);
    long small = alloc(pool, 1000);
    free(pool, ptr);
    assertTrue(pool.reserved() > BLOCK, "the pool keeps unused whole blocks as slack");
    long idle = consumer.reservedBytes() - MIB;

    assertEquals(idle, task.reclaimIdle(), "the pool's slack and the root's headroom");
    assertEquals(BLOCK, pool.reserved(), "the block the live allocation is in stays");
    assertEquals(BLOCK, pool.node().usedBytes());
    assertEquals(BLOCK, quota.nativeBytes());
    assertEquals(BLOCK, consumer.reservedBytes());
    assertEquals(0, consumer.spilledBytes(), "nothing was spilled");
    free(pool, small);
    task.close();
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask(), "what the reclaim owed Spark is settled");
  }

  @Test
  void liveAllocationsAtTaskEndAreReportedAsALeak() {
    alloc(pool, 5000);
    List<MemoryLeak> leaks = task.close();
    assertEquals(1, leaks.size(), leaks.toString());
    assertTrue(leaks.get(0).path().contains("task-3/native-op"), leaks.toString());
    assertTrue(leaks.get(0).bytes() >= 5000);
    assertEquals(0, quota.nativeBytes());
    assertEquals(0, tmm.getMemoryConsumptionForThisTask());
  }

  /**
   * spark.dynoffheap.debug: the task's pools run in libdynoffheap's debug mode, and a live native
   * allocation at task end is reported with the native site that made it (here JNA's call stub,
   * the native code that calls the pool in this test; the C tests and NativePoolTest pin a named
   * native function) through the task's leak.
   */
  @Test
  void inDebugModeALeakNamesTheNativeSiteThatAllocatedIt() {
    TreeMemoryConsumer debugConsumer =
        TreeMemoryConsumer.dynamic(tmm, "task-4", BLOCK, ladder, new MemoryStats());
    TaskNativeMemory debugTask = new TaskNativeMemory(4, debugConsumer,
        MemoryPlan.of(PluginSettings.from(new SparkConf(false)), 26 * MIB, 1, 1), BLOCK, true);
    TaskPool debugPool = debugTask.newPool("native-op");
    long ptr = alloc(debugPool, 5000);
    List<MemoryLeak> leaks = debugTask.close();
    assertEquals(1, leaks.size(), leaks.toString());
    MemoryLeak leak = leaks.get(0);
    assertEquals(5016, leak.bytes());
    assertTrue(leak.sites().startsWith("; native 1 live allocation(s) of 5016 bytes, by the site "
        + "that allocated them (debug mode), largest first:\n    5016 bytes in 1 allocation(s) "
        + "at "), leak.sites());
    assertTrue(leak.sites().matches("(?s).* at \\S+\\+0x[0-9a-f]+.*"), leak.sites());
    assertTrue(leak.toString().startsWith("task-4/native-op (native allocations not freed) held "),
        leak.toString());
    assertTrue(leak.toString().contains(leak.sites()), leak.toString());
    free(debugPool, ptr); // the closed pool still frees it
    assertEquals(0, debugPool.used());

    assertTrue(pool.handle() != 0);
    alloc(pool, 100);
    List<MemoryLeak> plain = task.close();
    assertEquals("", plain.get(0).sites(), "a task without debug mode records no sites");
  }

  /** dynoffheap_alloc(pool, size) as the header's inline wrapper does it: through the ops table. */
  static long alloc(TaskPool pool, long size) {
    return Pointer.nativeValue(op(pool, 2).invokePointer(new Object[] {new Pointer(pool.handle()), size}));
  }

  /** dynoffheap_free(pool, ptr). */
  static void free(TaskPool pool, long ptr) {
    op(pool, 5).invokeVoid(new Object[] {new Pointer(pool.handle()), new Pointer(ptr)});
  }

  /** The {@code index}-th 8-byte slot of struct dynoffheap_pool_ops: 1 holds the two uint32 version fields, 2 alloc, 5 free. */
  private static Function op(TaskPool pool, int index) {
    Pointer ops = new Pointer(pool.handle()).getPointer(0);
    return Function.getFunction(ops.getPointer(8L * (index - 1)));
  }
}
