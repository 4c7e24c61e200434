package io.dynoffheap.demo.runner;

import java.nio.file.Path;

/**
 * The arguments every program that runs jobs on the demo's cluster takes (the demo and the job
 * benchmarks): the Spark home, the plugin jar, the application jar, the output directory and the
 * run's id, which marks every process of the run. A program reads its own arguments and hands
 * every other one, with its value, to a {@link Reader}, then builds the record.
 */
record ClusterArgs(Path sparkHome, Path pluginJar, Path appJar, Path out, String runId) {

  /** The arguments in a usage line. */
  static final String USAGE =
      "--spark-home DIR --plugin-jar JAR --app-jar JAR --out DIR [--run-id ID]";

  /** The value after the argument at {@code i}; throws when there is none. */
  static String valueAfter(String[] args, int i) {
    if (i + 1 >= args.length) {
      throw new IllegalArgumentException(args[i] + " needs a value");
    }
    return args[i + 1];
  }

  /** Collects the arguments; throws {@link IllegalArgumentException} for a wrong one. */
  static final class Reader {
    private Path sparkHome;
    private Path pluginJar;
    private Path appJar;
    private Path out;
    private String runId;

    Reader(String defaultRunId) {
      runId = defaultRunId;
    }

    void read(String name, String value) {
      switch (name) {
        case "--spark-home" -> sparkHome = Path.of(value);
        case "--plugin-jar" -> pluginJar = Path.of(value);
        case "--app-jar" -> appJar = Path.of(value);
        case "--out" -> out = Path.of(value);
        case "--run-id" -> runId = value;
        default -> throw new IllegalArgumentException("unknown argument '" + name + "'");
      }
    }

    ClusterArgs build() {
      if (sparkHome == null || pluginJar == null || appJar == null || out == null) {
        throw new IllegalArgumentException("--spark-home, --plugin-jar, --app-jar and --out are "
            + "required");
      }
      if (!runId.matches("[A-Za-z0-9._-]+")) {
        throw new IllegalArgumentException("--run-id may only contain letters, digits, . _ -");
      }
      return new ClusterArgs(sparkHome.toAbsolutePath(), pluginJar.toAbsolutePath(),
          appJar.toAbsolutePath(), out.toAbsolutePath(), runId);
    }
  }
}
