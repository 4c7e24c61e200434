package io.dynoffheap.demo.runner;

import java.io.File;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The Spark home the demo cluster runs from: {@code jars/} (Spark and its dependencies, copied
 * there by Maven) and {@code conf/} (logging). Every JVM of the cluster is started from it with
 * plain {@code java}, the way Spark's launcher would start it:
 *
 * <ul>
 *   <li>class path: {@code conf/} (so log4j2.properties is found), then {@code jars/*};
 *   <li>JVM options: the {@code --add-opens} list that Spark's launcher adds for Java 17, taken
 *       from the launcher library of these very jars ({@code JavaModuleOptions}), so it always
 *       matches the Spark version;
 *   <li>environment: {@code SPARK_HOME}, {@code SPARK_CONF_DIR}, {@code SPARK_SCALA_VERSION} and
 *       {@code SPARK_LOCAL_IP=127.0.0.1}. The Worker builds each executor's command itself
 *       (WorkerCommandBuilder: {@code SPARK_HOME/conf}, {@code SPARK_HOME/jars/*}, -Xmx from
 *       spark.executor.memory), and it needs {@code SPARK_SCALA_VERSION} for that, because it
 *       cannot tell the Scala line from a Spark home without a build tree.
 * </ul>
 */
final class SparkHome {
  private static final Pattern CORE_JAR = Pattern.compile("spark-core_(\\d+\\.\\d+)-(.+)\\.jar");

  private final Path home;
  private final String scalaVersion;
  private final String sparkVersion;
  private final List<String> moduleOptions;

  private SparkHome(Path home, String scalaVersion, String sparkVersion, List<String> moduleOptions) {
    this.home = home;
    this.scalaVersion = scalaVersion;
    this.sparkVersion = sparkVersion;
    this.moduleOptions = moduleOptions;
  }

  /** The Spark home at {@code home}; fails with what to do when it is not built. */
  static SparkHome at(Path home) throws IOException {
    Path jars = home.resolve("jars");
    if (!Files.isDirectory(jars) || !Files.isDirectory(home.resolve("conf"))) {
      throw new IllegalStateException("No Spark home at " + home + " (jars/ and conf/ are "
          + "missing). Build it with: mvn -B -f demo/pom.xml package -DskipTests");
    }
    Matcher core;
    try (Stream<Path> files = Files.list(jars)) {
      core = files.map(file -> CORE_JAR.matcher(file.getFileName().toString()))
          .filter(Matcher::matches).findFirst()
          .orElseThrow(() -> new IllegalStateException("No spark-core jar in " + jars));
    }
    Path launcher = jars.resolve("spark-launcher_" + core.group(1) + "-" + core.group(2) + ".jar");
    return new SparkHome(home.toAbsolutePath(), core.group(1), core.group(2),
        moduleOptions(launcher));
  }

  Path path() {
    return home;
  }

  String scalaVersion() {
    return scalaVersion;
  }

  String sparkVersion() {
    return sparkVersion;
  }

  /** {@code java <heap> <module options> <extra> -cp conf/:jars/* <main> <args>}. */
  List<String> javaCommand(String maxHeap, List<String> jvmOptions, String mainClass,
      List<String> args) {
    List<String> command = new ArrayList<>();
    command.add(javaExecutable());
    command.add("-Xmx" + maxHeap);
    command.addAll(moduleOptions);
    command.addAll(jvmOptions);
    command.add("-cp");
    command.add(home.resolve("conf") + File.separator + File.pathSeparator
        + home.resolve("jars") + File.separator + "*");
    command.add(mainClass);
    command.addAll(args);
    return command;
  }

  /**
   * The environment of every JVM of the cluster: the caller's, without any SPARK_* variable it
   * may have (a SPARK_TESTING or SPARK_CONF_DIR from elsewhere changes how Spark starts), plus
   * this home's.
   */
  Map<String, String> environment(Path localDirs) {
    Map<String, String> env = new LinkedHashMap<>(System.getenv());
    env.keySet().removeIf(name -> name.startsWith("SPARK_") || name.equals("HADOOP_CONF_DIR")
        || name.equals("YARN_CONF_DIR"));
    env.put("SPARK_HOME", home.toString());
    env.put("SPARK_CONF_DIR", home.resolve("conf").toString());
    env.put("SPARK_SCALA_VERSION", scalaVersion);
    env.put("SPARK_LOCAL_IP", "127.0.0.1");
    env.put("SPARK_LOCAL_DIRS", localDirs.toString());
    env.put("JAVA_HOME", System.getProperty("java.home"));
    return env;
  }

  static String javaExecutable() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  /**
   * Spark's own list of JVM options for Java 17 ({@code JavaModuleOptions.defaultModuleOptions()}
   * in the launcher jar, public since Spark 3.3), read without putting Spark on this JVM's class
   * path. Falls back to the list Spark 3.5 and 4.0 use.
   */
  private static List<String> moduleOptions(Path launcherJar) {
    if (Files.isRegularFile(launcherJar)) {
      try (URLClassLoader loader = new URLClassLoader(new URL[] {launcherJar.toUri().toURL()},
          ClassLoader.getPlatformClassLoader())) {
        Object options = loader.loadClass("org.apache.spark.launcher.JavaModuleOptions")
            .getMethod("defaultModuleOptions").invoke(null);
        List<String> parsed = Arrays.stream(options.toString().trim().split("\\s+"))
            .filter(option -> !option.isEmpty()).toList();
        if (!parsed.isEmpty()) {
          return parsed;
        }
      } catch (ReflectiveOperationException | IOException | LinkageError e) {
        // fall through to the known list
      }
    }
    List<String> options = new ArrayList<>(List.of("-XX:+IgnoreUnrecognizedVMOptions"));
    for (String pkg : List.of("java.lang", "java.lang.invoke", "java.lang.reflect", "java.io",
        "java.net", "java.nio", "java.util", "java.util.concurrent",
        "java.util.concurrent.atomic", "jdk.internal.ref", "sun.nio.ch", "sun.nio.cs",
        "sun.security.action", "sun.util.calendar")) {
      options.add("--add-opens=java.base/" + pkg + "=ALL-UNNAMED");
    }
    options.add("-Djdk.reflect.useDirectMethodHandle=false");
    options.add("-Dio.netty.tryReflectionSetAccessible=true");
    return options;
  }

  @Override
  public String toString() {
    return "Spark " + sparkVersion + " (Scala " + scalaVersion + ") at " + home;
  }

}
