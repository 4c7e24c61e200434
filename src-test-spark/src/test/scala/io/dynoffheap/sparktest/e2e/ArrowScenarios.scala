package io.dynoffheap.sparktest.e2e

import scala.collection.mutable.ArrayBuffer

import io.dynoffheap.NativeMemory
import io.dynoffheap.arrow.{ArrowAllocators, ArrowSpiller}
import io.dynoffheap.sparktest.samplesort.SparkInternals
import org.apache.arrow.memory.BufferAllocator
import org.apache.arrow.vector.BigIntVector
import org.apache.spark.{SparkContext, TaskContext}
import org.apache.spark.sql.{Encoders, Row, SparkSession}

/**
 * What a task that copied the output of a SQL sort into Arrow batches saw.
 *
 * @param sortHeldBytes execution memory Spark had granted to the task when the first sorted row
 *                      arrived, i.e. what the sort held before any Arrow buffer existed
 * @param spilledBeforeArrow the task's memoryBytesSpilled at that moment
 * @param arrowBytes Arrow's allocated bytes with every batch built
 * @param nodePeakBytes the peak of the allocator's node in the task's memory tree
 * @param nodeUsedAfterClose what the node still held once every batch was closed
 * @param treeSpilledBytes bytes that spills took from the task's native memory tree
 */
final case class SortThenArrow(
    rows: Long,
    checksum: Long,
    batches: Int,
    sortHeldBytes: Long,
    spilledBeforeArrow: Long,
    arrowBytes: Long,
    nodePeakBytes: Long,
    nodeUsedAfterClose: Long,
    treeSpilledBytes: Long)

/** The Arrow Java version of the executor's class path, per Arrow jar. */
final case class ArrowVersions(vector: String, memoryCore: String)

/**
 * Task-side code of the Arrow scenarios: Arrow vectors built in Spark tasks through the plugin's
 * task-scoped allocators ([[ArrowAllocators]]). Closures capture only their arguments.
 */
object ArrowScenarios {

  /** The Implementation-Version of arrow-vector and arrow-memory-core where a task runs. */
  def arrowVersions(sc: SparkContext): ArrowVersions =
    sc.parallelize(Seq(0), 1).map { _ =>
      ArrowVersions(classOf[BigIntVector].getPackage.getImplementationVersion,
        classOf[BufferAllocator].getPackage.getImplementationVersion)
    }.collect().head

  /**
   * One task reads a SQL sort of `rows` [[ArrowRows]] (whole-stage code generation sorts the
   * whole partition when the first row is asked for, and the sort keeps its records in memory
   * while they are read) and copies the rows into Arrow batches of `batchRows` rows, all kept
   * until the last row is in. Then it checksums the vectors and closes them.
   */
  def sortThenArrow(spark: SparkSession, rows: Long, batchRows: Int): SortThenArrow =
    ArrowRows.sorted(spark, rows).mapPartitions { (sortedRows: Iterator[Row]) =>
      sortedRows.hasNext // runs the sort
      val sortHeld = SparkInternals.taskExecutionMemory()
      val spilledBefore = TaskContext.get().taskMetrics().memoryBytesSpilled
      val task = NativeMemory.currentTask()
      val arrow = ArrowAllocators.open(task, "arrow-batches", Long.MaxValue, ArrowSpiller.NONE)
      val batches = ArrayBuffer.empty[ArrowBatch]
      try {
        while (sortedRows.hasNext) {
          val batch = new ArrowBatch(arrow.allocator(), batchRows)
          batches += batch
          batch.fill(sortedRows)
        }
        val built = batches.size
        val arrowBytes = arrow.allocator().getAllocatedMemory
        val sum = new RowChecksum
        batches.foreach(_.addTo(sum))
        batches.foreach(_.close())
        batches.clear()
        val usedAfterClose = arrow.node().usedBytes()
        arrow.allocator().close()
        Iterator(SortThenArrow(sum.rows, sum.value, built, sortHeld, spilledBefore, arrowBytes,
          arrow.node().peakBytes(), usedAfterClose, task.spilledBytes()))
      } finally {
        batches.foreach(_.close())
      }
    }(Encoders.product[SortThenArrow]).collect().head

  /**
   * One task allocates `vectors` BigIntVectors of `values` values each from a task allocator
   * named `allocatorName`, all kept open: more than the executor's budget when
   * `vectors * values * 8` is. The vectors are closed however the task ends.
   */
  def arrowBeyondBudget(sc: SparkContext, allocatorName: String, values: Int,
      vectors: Int): Long =
    sc.parallelize(Seq(0), 1).map { _ =>
      val allocator = ArrowAllocators.forCurrentTask(allocatorName)
      val held = ArrayBuffer.empty[BigIntVector]
      try {
        for (i <- 0 until vectors) {
          val vector = new BigIntVector(s"values-$i", allocator)
          held += vector
          vector.allocateNew(values)
        }
        allocator.getAllocatedMemory
      } finally {
        held.foreach(_.close())
        allocator.close()
      }
    }.collect().head
}
