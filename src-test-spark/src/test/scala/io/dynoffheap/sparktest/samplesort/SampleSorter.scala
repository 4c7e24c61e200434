package io.dynoffheap.sparktest.samplesort

import io.dynoffheap.{NativeMemory, TaskNativeMemory, TaskPool}
import io.dynoffheap.samplesort.SampleSortLibrary
import org.apache.spark.{SparkEnv, TaskContext}

/**
 * How the sample operator runs in a task.
 *
 * @param recordBytes   bytes per record in native memory (8-byte key + payload), multiple of 8
 * @param allowSpill    whether the operator spills itself when the pool denies memory
 * @param workerThreads native threads (started by the operator) that allocate and fill chunks
 * @param batchKeys     keys passed to native code per call
 */
final case class SortOptions(
    recordBytes: Int = 64,
    allowSpill: Boolean = false,
    workerThreads: Int = 1,
    batchKeys: Int = 65536,
    poolName: String = "sample-sort") {
  require(recordBytes >= 8 && recordBytes <= 4096 && recordBytes % 8 == 0,
    s"recordBytes must be a multiple of 8 in [8, 4096], was $recordBytes")
  require(workerThreads >= 1 && workerThreads <= 64, s"workerThreads was $workerThreads")
  require(batchKeys >= 1, s"batchKeys was $batchKeys")
}

/** What one run of the sample operator produced in a task, and how its memory behaved. */
final case class SortOutcome(
    count: Long,
    checksum: Long,
    ascending: Boolean,
    spills: Long,
    spilledRecords: Long,
    spillRequests: Long,
    busySpills: Long,
    payloadErrors: Long,
    workerChunks: Long,
    poolPeakBytes: Long,
    poolUsedAfterDestroy: Long,
    taskSpilledBytes: Long,
    executorId: String,
    pid: Long,
    taskAttemptId: Long,
    partitionId: Int) {

  def countAndChecksum: (Long, Long) = (count, checksum)
}

/** The order-sensitive checksum the suites compare: h = h * 31 + key over the keys in order. */
final class Checksum extends Serializable {
  private var h = 1L
  private var n = 0L
  private var last = Long.MinValue
  private var inOrder = true

  def add(key: Long): Unit = {
    h = h * 31 + key
    n += 1
    if (key < last) inOrder = false
    last = key
  }

  def value: Long = h
  def count: Long = n
  /** Whether every key was >= the one before. */
  def ascending: Boolean = inOrder
}

object Checksum {
  /** Count and checksum of `keys` sorted ascending (a copy is sorted): the JVM-side answer. */
  def ofSorted(keys: Array[Long]): (Long, Long) = {
    val copy = keys.clone()
    java.util.Arrays.sort(copy)
    val sum = new Checksum
    copy.foreach(sum.add)
    (sum.count, sum.value)
  }
}

/** Deterministic test keys: the same (seed, index) gives the same key on driver and executors. */
object Keys {
  def mix64(start: Long): Long = {
    var z = start + 0x9E3779B97F4A7C15L
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL
    z ^ (z >>> 31)
  }

  /** Key `i` of data set `seed`; with `distinct` > 0, keys fall in [0, distinct) (duplicates). */
  def key(seed: Long, i: Long, distinct: Long = 0): Long = {
    val mixed = mix64(seed * 0x632BE59BD9B4E019L + i)
    if (distinct > 0) java.lang.Math.floorMod(mixed, distinct) else mixed
  }

  def iterator(seed: Long, from: Long, until: Long, distinct: Long = 0): Iterator[Long] = {
    // Not named `distinct` inside the Iterator, whose own member of that name would win.
    val keyRange = distinct
    new Iterator[Long] {
      private var i = from
      override def hasNext: Boolean = i < until
      override def next(): Long = {
        val k = key(seed, i, keyRange)
        i += 1
        k
      }
    }
  }

  def array(seed: Long, from: Long, until: Long, distinct: Long = 0): Array[Long] = {
    val out = new Array[Long](java.lang.Math.toIntExact(until - from))
    var i = 0
    while (i < out.length) {
      out(i) = key(seed, from + i, distinct)
      i += 1
    }
    out
  }
}

/**
 * The sample native operator running in the current Spark task: a pool from the task's native
 * memory, a native sorter allocating from it, every native call through [[TaskPool.call]] (a
 * denied allocation surfaces as the plugin's SparkOutOfMemoryError). Must be made and used on the
 * task thread; [[close]] (destroy) in a finally.
 */
final class SampleSorter(val options: SortOptions) extends AutoCloseable {
  SampleSortLibrary.load()

  val task: TaskNativeMemory = NativeMemory.currentTask()
  val pool: TaskPool = task.newPool(options.poolName)
  private val spillDir = SparkInternals.spillDirectory().getAbsolutePath
  private var handle = 0L
  handle = call("samplesort_create") {
    val h = SampleSortLibrary.samplesort_create(pool.handle(), options.recordBytes,
      if (options.allowSpill) 1 else 0, spillDir, options.workerThreads)
    if (h == 0) -1L else h
  }
  private val batch = new Array[Long](options.batchKeys)
  private var destroyed = false

  /** Feeds all keys, in batches; returns how many. */
  def addAll(keys: Iterator[Long]): Long = {
    var n = 0
    var total = 0L
    while (keys.hasNext) {
      batch(n) = keys.next()
      n += 1
      if (n == batch.length) {
        addBatch(n)
        total += n
        n = 0
      }
    }
    if (n > 0) {
      addBatch(n)
      total += n
    }
    total
  }

  private def addBatch(n: Int): Unit =
    call("samplesort_add")(SampleSortLibrary.samplesort_add(live(), batch, n))

  /** Ends the input and returns the sorted keys' count and checksum. */
  def sortedChecksum(): Checksum = {
    val total = call("samplesort_finish")(SampleSortLibrary.samplesort_finish(live()))
    val sum = new Checksum
    var got = 1L
    while (got > 0) {
      got = call("samplesort_next")(SampleSortLibrary.samplesort_next(live(), batch, batch.length))
      var i = 0
      while (i < got) {
        sum.add(batch(i))
        i += 1
      }
    }
    if (sum.count != total) {
      throw new IllegalStateException(s"finish announced $total records, next gave ${sum.count}")
    }
    sum
  }

  def spills: Long = SampleSortLibrary.samplesort_spills(live())
  def spillRequests: Long = SampleSortLibrary.samplesort_spill_requests(live())
  def busySpills: Long = SampleSortLibrary.samplesort_busy_spills(live())

  /**
   * Sorts, reads the operator's statistics, destroys it, and reports: the pool's usage after
   * destroy (0 unless the operator leaks), the pool node's peak, the task's spilled bytes.
   */
  def finishAndDestroy(): SortOutcome = {
    val sum = sortedChecksum()
    val h = live()
    val spills = SampleSortLibrary.samplesort_spills(h)
    val spilledRecords = SampleSortLibrary.samplesort_spilled_records(h)
    val requests = SampleSortLibrary.samplesort_spill_requests(h)
    val busy = SampleSortLibrary.samplesort_busy_spills(h)
    val payloadErrors = SampleSortLibrary.samplesort_payload_errors(h)
    val workerChunks = SampleSortLibrary.samplesort_worker_chunks(h)
    close()
    val ctx = TaskContext.get()
    SortOutcome(
      count = sum.count,
      checksum = sum.value,
      ascending = sum.ascending,
      spills = spills,
      spilledRecords = spilledRecords,
      spillRequests = requests,
      busySpills = busy,
      payloadErrors = payloadErrors,
      workerChunks = workerChunks,
      poolPeakBytes = pool.node().peakBytes(),
      poolUsedAfterDestroy = pool.used(),
      taskSpilledBytes = task.spilledBytes(),
      executorId = SparkEnv.get.executorId,
      pid = ProcessHandle.current().pid(),
      taskAttemptId = ctx.taskAttemptId(),
      partitionId = ctx.partitionId())
  }

  /** Destroys the native sorter (frees its memory through the pool, deletes its run files). */
  override def close(): Unit = {
    if (!destroyed && handle != 0) {
      destroyed = true
      SampleSortLibrary.samplesort_destroy(handle)
    }
  }

  /**
   * Leaves the sorter's memory allocated and forgets it (for the leak scenario): the pool still
   * holds the bytes when the task ends.
   */
  def abandon(): Unit = destroyed = true

  private def live(): Long = {
    if (destroyed) throw new IllegalStateException("the sample sorter was destroyed")
    handle
  }

  private def call(what: String)(nativeCall: => Long): Long =
    try pool.call(() => nativeCall)
    catch {
      case e: IllegalStateException =>
        val detail = if (handle != 0 && !destroyed) SampleSortLibrary.lastError(handle) else ""
        throw new IllegalStateException(s"$what failed: $detail", e)
    }
}

object SampleSorter {

  /** Runs the operator over `keys` in the current task and reports (destroys it in any case). */
  def run(keys: Iterator[Long], options: SortOptions)(
      beforeFinish: SampleSorter => Unit = _ => ()): SortOutcome = {
    val sorter = new SampleSorter(options)
    try {
      sorter.addAll(keys)
      beforeFinish(sorter)
      sorter.finishAndDestroy()
    } finally {
      sorter.close()
    }
  }
}
