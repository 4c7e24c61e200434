package io.dynoffheap.sparktest

import java.io.File

/**
 * How suites turn the dynamic off-heap sizing plugin on, the way users do.
 *
 * The plugin's classes reach the executors through the test JVM's class path (the module depends
 * on the plugin), which local-cluster executors inherit. Suites on local-cluster still pass the
 * users' jar, `plugin/target/dynoffheap-plugin-<version>.jar`, in `spark.jars` and the plugin class
 * in `spark.plugins`, exactly as `spark-submit --jars ... --conf spark.plugins=...` would.
 */
object PluginSetup {

  val PluginClass = "io.dynoffheap.DynamicOffHeapSizingPlugin"
  val DynamicSizing = "spark.gluten.memory.dynamic.offHeap.sizing.enabled"
  val OffHeapEnabled = "spark.memory.offHeap.enabled"
  val OffHeapSize = "spark.memory.offHeap.size"

  /** System property with the path of the users' jar (set by the Maven build). */
  val JarProperty = "dynoffheap.plugin.jar"

  /**
   * The users' jar, which must have been built (`mvn -pl src-test-spark -am verify` builds it);
   * fails with what to do when it is missing.
   */
  def pluginJar: File = {
    val path = sys.props.getOrElse(JarProperty, throw new IllegalStateException(
      s"System property $JarProperty is not set: it must point at the plugin's jar " +
        "(plugin/target/dynoffheap-plugin-<version>.jar). The Maven build sets it; set it in " +
        "the IDE's run configuration too."))
    val jar = new File(path).getAbsoluteFile
    if (!jar.isFile) {
      throw new IllegalStateException(
        s"The plugin jar $jar does not exist. Build it first: from the repository root run " +
          "`mvn -B -pl src-test-spark -am verify` (or `mvn -B -f plugin/pom.xml package " +
          "-DskipTests` before running this module alone).")
    }
    jar
  }

  /** Conf that adds the plugin as users do: its jar in spark.jars and its class in spark.plugins. */
  def asUsersDo: Map[String, String] = Map(
    "spark.jars" -> pluginJar.getPath,
    "spark.plugins" -> PluginClass)

  /** Only the plugin class (local[N]: the driver's class path already has it). */
  def inProcess: Map[String, String] = Map("spark.plugins" -> PluginClass)
}
