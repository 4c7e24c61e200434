package io.dynoffheap.memory;

import static io.dynoffheap.testing.SparkMemory.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.testing.SparkMemory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.spark.memory.SparkOutOfMemoryError;
import org.apache.spark.memory.TaskMemoryManager;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Sizes no budget could ever hold, and sizes that are not positive, given to the nodes of a task's
 * tree with the toggle on: each is an {@link IllegalArgumentException} naming the call, the
 * argument, the value and the range, thrown before anything is counted and before the shortfall
 * ladder runs (no GC episode), never an out-of-memory error.
 */
class BadArgumentsTest {
  private static final long BLOCK = 8 * MIB;
  private static final String LIMIT = "17592186044416 (16.0 TiB)";

  private final TaskMemoryManager tmm = SparkMemory.taskMemoryManager(64, 0);
  private final AtomicInteger collections = new AtomicInteger();
  private final ExecutorQuota quota = new ExecutorQuota(256 * MIB, () -> 100 * MIB);
  private final ShortfallLadder ladder = new ShortfallLadder(quota, new IdleReclaim(),
      new GcCoordinator(collections::incrementAndGet, HeapShrink.of(false), 0, System::nanoTime),
      2, 1);
  private final TreeMemoryConsumer consumer =
      TreeMemoryConsumer.dynamic(tmm, "task-9", BLOCK, ladder, new MemoryStats());
  private final TreeNode op = consumer.root().newChild("op");

  @AfterEach
  void closeTask() {
    consumer.close();
  }

  /** A call, the value it passes, and the argument's name in the message. */
  record BadCall(String name, long value, String argument, Call call) {
    @Override
    public String toString() {
      return name + " " + value;
    }
  }

  interface Call {
    void on(TreeNode node, long value);
  }

  static Stream<BadCall> badCalls() {
    Call reserve = TreeNode::reserve;
    Call borrow = TreeNode::borrow;
    Call repay = TreeNode::repay;
    Call child = (node, capacity) -> node.newChild("child", capacity, Spiller.NONE);
    return Stream.of(
        new BadCall("reserve(bytes)", Long.MAX_VALUE, "bytes", reserve),
        new BadCall("reserve(bytes)", Arguments.MAX_BYTES + 1, "bytes", reserve),
        new BadCall("reserve(bytes)", -1, "bytes", reserve),
        new BadCall("reserve(bytes)", 0, "bytes", reserve),
        new BadCall("borrow(bytes)", Long.MAX_VALUE - 1, "bytes", borrow),
        new BadCall("borrow(bytes)", Long.MIN_VALUE, "bytes", borrow),
        new BadCall("repay(bytes)", Long.MAX_VALUE, "bytes", repay),
        new BadCall("repay(bytes)", -MIB, "bytes", repay),
        new BadCall("newChild(\"child\", childCapacity)", 0, "childCapacity", child),
        new BadCall("newChild(\"child\", childCapacity)", -1, "childCapacity", child),
        new BadCall("newChild(\"child\", childCapacity)", Long.MAX_VALUE - 1, "childCapacity",
            child));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badCalls")
  void aBadSizeIsAnIllegalArgumentNamingTheValueAndTheLimit(BadCall bad) {
    op.reserve(MIB);
    long quotaBefore = quota.nativeBytes();

    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> bad.call().on(op, bad.value()));

    String message = error.getMessage();
    assertTrue(message.startsWith(bad.name() + " on TreeNode(task-9/op"), message);
    assertTrue(message.contains(bad.argument() + " = " + Bytes.format(bad.value())), message);
    assertTrue(message.contains("[1 B, " + LIMIT + "]"), message);
    assertEquals(MIB, op.usedBytes(), "nothing changed");
    assertEquals(MIB, consumer.root().usedBytes());
    assertEquals(quotaBefore, quota.nativeBytes());
    assertEquals(0, collections.get(), "no GC episode for a bad argument");
  }

  @Test
  void aSizeAboveTheLargestBudgetSaysItIsNoShortage() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> op.reserve(Long.MAX_VALUE));
    assertTrue(error.getMessage().contains("the largest budget any executor can have "
        + "(spark.dynoffheap.budget), so this is a wrong size, not a shortage"), error.getMessage());
  }

  @Test
  void theLargestSizeAndCapacityAreValidAndMeetTheBudgetAsUsual() {
    TreeNode largest = op.newChild("largest", Arguments.MAX_BYTES, Spiller.NONE);
    assertEquals(Arguments.MAX_BYTES, largest.capacity());
    TreeNode unlimited = op.newChild("unlimited", TreeNode.UNLIMITED, Spiller.NONE);
    assertEquals(TreeNode.UNLIMITED, unlimited.capacity());

    Executable shortage = () -> largest.reserve(Arguments.MAX_BYTES);
    SparkOutOfMemoryError error = assertThrows(SparkOutOfMemoryError.class, shortage);
    assertTrue(error.getMessage().contains("spark.executor.memory"), error.getMessage());
    assertEquals(0, largest.usedBytes());
  }
}
