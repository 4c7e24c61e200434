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
 */
record JobSettings(String label, String result, String spillDir, int partitions, long jvmRows,
    long jvmGroups, long nativeRecords, int recordBytes) {

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
        Integer.parseInt(required(values, "record-bytes")));
    if (!values.isEmpty()) {
      throw new IllegalArgumentException("unknown arguments: " + values.keySet());
    }
    return settings;
  }

  long nativeRecordsTotal() {
    return nativeRecords * partitions;
  }

  private static String required(Map<String, String> values, String name) {
    String value = values.remove(name);
    if (value == null) {
      throw new IllegalArgumentException("missing argument --" + name);
    }
    return value;
  }
}
