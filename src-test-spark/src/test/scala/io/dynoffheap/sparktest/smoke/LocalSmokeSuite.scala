package io.dynoffheap.sparktest.smoke

import io.dynoffheap.sparktest.{ExecutorProbe, SparkMaster, SparkSessions, WithSpark}
import org.scalatest.funsuite.AnyFunSuite

/** `local[2]`: driver and executor in the test JVM. */
class LocalSmokeSuite extends AnyFunSuite with WithSpark {

  override protected def sparkMaster: SparkMaster = SparkMaster.Local(threads = 2)

  test("the session runs local[2] with the harness's test settings") {
    assert(sc.master == "local[2]")
    assert(sc.uiWebUrl.isEmpty, "the web UI must be off")
    assert(sc.getConf.get("spark.eventLog.enabled") == "false")
    assert(spark.conf.get("spark.sql.shuffle.partitions") == "4")
    assert(SparkSessions.registeredExecutors(sc) == 0)
    assert(SparkSessions.executorJvms().isEmpty)
  }

  test("tasks run in the test JVM on the driver's executor") {
    val facts = ExecutorProbe.run(sc, tasks = 4)
    assert(facts.map(_.partitionId) == (0 until 4))
    assert(facts.map(_.executorId).toSet == Set("driver"))
    assert(facts.map(_.pid).toSet == Set(ProcessHandle.current().pid()))
  }

  test("an RDD job with a shuffle returns the right answer") {
    val n = 1000
    val sumOfSquares = sc.parallelize(1 to n, 4).map(x => x.toLong * x).reduce(_ + _)
    assert(sumOfSquares == n.toLong * (n + 1) * (2 * n + 1) / 6)

    val countsByResidue =
      sc.parallelize(1 to n, 4).map(x => (x % 7, 1)).reduceByKey(_ + _, 3).collect().toMap
    // 1000 = 7 * 142 + 6: residues 1..6 occur 143 times, residue 0 occurs 142 times.
    assert(countsByResidue == Map(0 -> 142) ++ (1 to 6).map(_ -> 143))
  }

  test("a SQL job with an aggregation and a join returns the right answer") {
    spark.range(0, 1000).selectExpr("id % 10 AS k", "id AS v").createOrReplaceTempView("numbers")
    spark.range(0, 10).selectExpr("id AS k", "concat('key-', id) AS name")
      .createOrReplaceTempView("names")

    val rows = spark.sql(
      """SELECT n.name, count(*) AS c, sum(t.v) AS s
        |FROM numbers t JOIN names n ON t.k = n.k
        |GROUP BY n.name
        |ORDER BY n.name""".stripMargin).collect()

    val actual = rows.map(r => (r.getString(0), r.getLong(1), r.getLong(2))).toList
    // Key k collects v = 10 * j + k for j = 0..99: sum = 10 * 4950 + 100 * k.
    val expected = (0 until 10).map(k => (s"key-$k", 100L, 49500L + 100L * k)).toList
    assert(actual == expected)
  }
}
