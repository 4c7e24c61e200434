package io.dynoffheap.sparktest.linkage

import io.dynoffheap.sparktest.PluginSetup
import org.scalatest.funsuite.AnyFunSuite

/**
 * The users' jar links against the Spark line of this build ([[JarLinkage]]): no Scala type, and
 * every Spark, Arrow, slf4j and JDK class and member the plugin's classes use exists here. CI runs
 * this module on every line of the support matrix against the one jar the default build made,
 * so a member that one line lacks fails that line's run here, before any job would.
 */
class PluginJarLinkageSuite extends AnyFunSuite {

  test(s"the plugin jar names no Scala type and links against Spark ${org.apache.spark.SPARK_VERSION}") {
    val jar = PluginSetup.pluginJar
    val problems = JarLinkage.problems(jar, "io/dynoffheap/", getClass.getClassLoader)
    if (problems.nonEmpty) fail(
      s"$jar cannot run on Spark ${org.apache.spark.SPARK_VERSION} (Scala " +
        s"${scala.util.Properties.versionNumberString}, Java ${System.getProperty("java.version")}): " +
        problems.mkString("\n  ", "\n  ", "\n") +
        "Use only Java types and Spark/Arrow members present in every line of the support matrix " +
        "(README.md), or move the line-specific call behind a check of the Spark version.")
  }

  test("the check sees Scala types and members this class path lacks") {
    val name = classOf[PluginJarLinkageSuite].getName.replace('.', '/')
    val in = getClass.getClassLoader.getResourceAsStream(name + ".class")
    val refs = try ClassReferences.read(name, in.readAllBytes()) finally in.close()
    val lookup = new JarLinkage.Lookup(getClass.getClassLoader)
    assert(JarLinkage.check(refs, Set(name), lookup).exists(_.contains("Scala type")))

    val absent = MemberRef("org/apache/spark/SparkConf", "noSuchSetting", "()Ljava/lang/String;", isField = false)
    val gone = ClassReferences(name, Set("org/apache/spark/NoSuchClass"), Set(absent), Set.empty)
    assert(JarLinkage.check(gone, Set(name), lookup) == Seq(
      "uses the class org.apache.spark.NoSuchClass, which is not on this class path",
      "uses the method org.apache.spark.SparkConf.noSuchSetting()Ljava/lang/String;, which this class path lacks"))
  }
}
