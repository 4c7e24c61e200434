package io.dynoffheap;

import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which Spark and Java this JVM runs, and whether that pair can work; logged once by the driver
 * and by every executor when the plugin starts.
 *
 * <p>The one pair known not to work: Spark before 4.2 on Java 23 or later. Those lines ship
 * Hadoop 3.3/3.4, whose {@code UserGroupInformation} calls {@code Subject.getSubject}; since Java
 * 23 that throws {@code UnsupportedOperationException} unless the JVM runs with
 * {@code -Djava.security.manager=allow}, and since Java 24 always (the Security Manager is gone,
 * JEP 486). Spark 4.2 (Hadoop 3.5) no longer calls it. On such a pair the driver gets to start the
 * plugin and logs the cause before Spark fails; executors die in Hadoop before any plugin starts.
 */
final class RuntimeSupport {
  private static final Logger LOG = LoggerFactory.getLogger(RuntimeSupport.class);

  private RuntimeSupport() {}

  /** Logs, on the side of the application named by {@code where}, the versions and any problem. */
  static void logAtStart(String where) {
    String spark = org.apache.spark.package$.MODULE$.SPARK_VERSION();
    Runtime.Version java = Runtime.version();
    LOG.info("Dynamic off-heap sizing plugin in {} runs on Spark {} and Java {} ({})", where, spark,
        java, System.getProperty("java.vendor"));
    problem(spark, java.feature(), System.getProperty("java.security.manager"))
        .ifPresent(problem -> LOG.error("{}: {}", where, problem));
  }

  /**
   * Why Spark {@code sparkVersion} cannot run on Java {@code javaFeature} (with
   * {@code java.security.manager} set to {@code securityManager}, null if unset), if it cannot.
   */
  static Optional<String> problem(String sparkVersion, int javaFeature, String securityManager) {
    if (javaFeature < 23 || !beforeFourTwo(sparkVersion)
        || javaFeature == 23 && "allow".equals(securityManager)) {
      return Optional.empty();
    }
    String remedy = javaFeature == 23
        ? "add -Djava.security.manager=allow to spark.driver.extraJavaOptions and "
            + "spark.executor.extraJavaOptions, or run on Java 17 or 21, or on Spark 4.2 or later"
        : "run this application on Java 17 or 21, or on Spark 4.2 or later";
    return Optional.of("Spark " + sparkVersion + " cannot run on Java " + javaFeature + ": its Hadoop "
        + "calls Subject.getSubject, which Java " + javaFeature + " no longer supports, so Spark fails "
        + "with UnsupportedOperationException (getSubject is not supported) from "
        + "UserGroupInformation; " + remedy + ".");
  }

  /** True for Spark 4.1 and earlier ("3.5.7", "4.1.3", "4.1.0-SNAPSHOT"). */
  private static boolean beforeFourTwo(String sparkVersion) {
    String[] parts = sparkVersion.split("[.-]");
    try {
      int major = Integer.parseInt(parts[0]);
      int minor = parts.length > 1 ? Integer.parseInt(parts[1]) : 0;
      return major < 4 || major == 4 && minor < 2;
    } catch (NumberFormatException notANumber) {
      return false; // a vendor's version string: no claim either way
    }
  }
}
