package io.dynoffheap.demo.job;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The demo job's arguments, given by the runner as {@code --name value} pairs after the
 * application jar. Sizes are counts of rows and records, so the same arguments describe the same
 * data in both runs.
 *
 * @param label          the run's name in progress lines and in the result file
 * @param result         where the driver writes its result (a properties file)
 * @param spillDir       where the native operator writes its run files (one directory per run)
 * @param partitions     partitions of both stages (tasks run two at a time)
 * @param jvmRows        rows of the JVM-side stage (aggregated into {@code jvmGroups} groups)
 * @param jvmGroups      groups of the JVM-side stage: their count sizes its hash maps
 * @param nativeRecords  records each native task sorts
 * @param recordBytes    bytes per native record (key plus payload): the native working set of
 *                       one task is about nativeRecords * recordBytes
 * @param nativeSpill    whether the native operator may spill when memory is denied (when not,
 *                       the denial fails the task)
 * @param pluginPool     true: the operator allocates from a pool of the plugin; false: from
 *                       plain malloc (the no-plugin baseline; spark.plugins is then not set)
 */
record JobSettings(String label, String result, String spillDir, int partitions, long jvmRows,
    long jvmGroups, long nativeRecords, int recordBytes, boolean nativeSpill,
    boolean pluginPool) {

  static JobSettings parse(String[] args) {
    Map<String, String> values = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String name = args[i];
      if (!name.startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("expected --name value pairs, got '" + name + "'");
      }
      values.put(name.substring(2), args[++i]);
    }
    JobSettings settings = new JobSettings(
        required(values, "label"),
        required(values, "result"),
        required(values, "spill-dir"),
        Integer.parseInt(required(values, "partitions")),
        Long.parseLong(required(values, "jvm-rows")),
        Long.parseLong(required(values, "jvm-groups")),
        Long.parseLong(required(values, "native-records")),
        Integer.parseInt(required(values, "record-bytes")),
        Boolean.parseBoolean(required(values, "native-spill")),
        nativeMemory(required(values, "native-memory")));
    if (!values.isEmpty()) {
      throw new IllegalArgumentException("unknown arguments: " + values.keySet());
    }
    return settings;
  }

  long nativeRecordsTotal() {
    return nativeRecords * partitions;
  }

  /** "plugin" (a pool of the plugin) or "malloc" (plain malloc, no plugin). */
  private static boolean nativeMemory(String value) {
    return switch (value) {
      case "plugin" -> true;
      case "malloc" -> false;
      default -> throw new IllegalArgumentException("--native-memory must be plugin or malloc, got '"
          + value + "'");
    };
  }

  private static String required(Map<String, String> values, String name) {
    String value = values.remove(name);
    if (value == null) {
      throw new IllegalArgumentException("missing argument --" + name);
    }
    return value;
  }
}
