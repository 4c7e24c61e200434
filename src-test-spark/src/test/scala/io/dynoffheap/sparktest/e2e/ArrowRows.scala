package io.dynoffheap.sparktest.e2e

import java.nio.charset.StandardCharsets

import org.apache.arrow.memory.BufferAllocator
import org.apache.arrow.vector.{BigIntVector, VarCharVector}
import org.apache.spark.sql.{DataFrame, Row, SparkSession}

/**
 * The data set of the Arrow scenarios: `rows` rows of a long key `k` and a text `t`, made and
 * sorted by Spark SQL in one partition, so that one task holds the whole sort.
 *
 * Row `id` gets the key `(id * 7919) mod rows`, a permutation of `[0, rows)`: sorted by key, row
 * `i` has key `i`, and its text is one letter, `'a' + i mod 26`, repeated `100 + (i * 37) mod 200`
 * times (199.5 bytes on average). The driver computes the expected checksum from these formulas,
 * never from what Spark produced.
 */
object ArrowRows {
  private val Multiplier = 7919L // a prime: a permutation whenever it does not divide `rows`

  /** Bytes of the longest text: an upper bound for sizing a batch's text buffer. */
  val MaxTextBytes = 299

  def letter(key: Long): Byte = ('a' + key % 26).toByte

  def textLength(key: Long): Int = (100 + key * 37 % 200).toInt

  /** The rows sorted by key within their one partition (the sort runs in the reading task). */
  def sorted(spark: SparkSession, rows: Long): DataFrame = {
    require(rows > 0 && rows % Multiplier != 0, s"rows must be positive and not a multiple of " +
      s"$Multiplier, was $rows")
    spark.range(0, rows, 1, 1)
      .selectExpr(s"pmod(id * $Multiplier, $rows) AS k")
      .selectExpr("k", "repeat(char(97 + k % 26), CAST(100 + k * 37 % 200 AS INT)) AS t")
      .sortWithinPartitions("k")
  }

  /** The checksum of the sorted rows, from the formulas. */
  def expectedChecksum(rows: Long): RowChecksum = {
    val sum = new RowChecksum
    var key = 0L
    while (key < rows) {
      sum.add(key, Array.fill(textLength(key))(letter(key)))
      key += 1
    }
    sum
  }
}

/** An order-sensitive checksum of (key, text) rows: h = h * 31 + each value, text byte by byte. */
final class RowChecksum extends Serializable {
  private var h = 1L
  private var n = 0L

  def add(key: Long, text: Array[Byte]): Unit = {
    h = h * 31 + key
    var j = 0
    while (j < text.length) {
      h = h * 31 + text(j)
      j += 1
    }
    h = h * 31 + text.length
    n += 1
  }

  def value: Long = h
  def rows: Long = n
}

/**
 * Up to `capacity` rows of [[ArrowRows]] as two Arrow vectors, a BigIntVector of keys and a
 * VarCharVector of texts, whose buffers come from `allocator`. Closing the batch frees them.
 */
final class ArrowBatch(allocator: BufferAllocator, capacity: Int) extends AutoCloseable {
  val keys = new BigIntVector("k", allocator)
  val texts = new VarCharVector("t", allocator)

  try {
    keys.allocateNew(capacity)
    texts.allocateNew(capacity.toLong * ArrowRows.MaxTextBytes, capacity)
  } catch {
    case e: Throwable =>
      close()
      throw e
  }

  /** Copies rows from `rows` until the batch is full or `rows` ends; returns the batch's rows. */
  def fill(rows: Iterator[Row]): Int = {
    var i = 0
    while (i < capacity && rows.hasNext) {
      val row = rows.next()
      keys.set(i, row.getLong(0))
      texts.setSafe(i, row.getString(1).getBytes(StandardCharsets.UTF_8))
      i += 1
    }
    keys.setValueCount(i)
    texts.setValueCount(i)
    i
  }

  /** Adds the batch's rows, read back from the vectors, to `sum`. */
  def addTo(sum: RowChecksum): Unit =
    for (i <- 0 until keys.getValueCount) sum.add(keys.get(i), texts.get(i))

  override def close(): Unit = {
    keys.close()
    texts.close()
  }
}
