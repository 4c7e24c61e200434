package io.dynoffheap.demo.runner;

import java.util.List;

/**
 * How much data the demo job processes; the same for the runs that are compared.
 *
 * @param partitions    tasks per stage (the executor runs two at a time, unless a run's
 *                      spark.task.cpus says otherwise)
 * @param jvmRows       rows of the JVM-side aggregation
 * @param jvmGroups     its groups (their number sizes Spark's hash maps)
 * @param nativeRecords records each native sort task holds
 * @param recordBytes   bytes per native record
 * @param nativeSpill   whether the native operator may spill to disk when memory is denied; when
 *                      not, a denial fails the task, so the working set must fit
 */
record JobSize(String name, int partitions, long jvmRows, long jvmGroups, long nativeRecords,
    int recordBytes, boolean nativeSpill) {

  /** The demo as README describes it: a few hundred MiB of native working set. */
  static final JobSize FULL = new JobSize("full", 4, 16_000_000, 4_000_000, 2_500_000, 64, true);

  /** Reduced size for tests: the same steps in well under a minute per run. */
  static final JobSize QUICK = new JobSize("quick", 2, 1_000_000, 200_000, 400_000, 64, true);

  /** Native bytes one task holds at its peak (records only, without the operator's bookkeeping). */
  long nativeBytesPerTask() {
    return nativeRecords * recordBytes;
  }

  /** The job's arguments after the application jar. */
  List<String> jobArguments() {
    return List.of(
        "--partitions", String.valueOf(partitions),
        "--jvm-rows", String.valueOf(jvmRows),
        "--jvm-groups", String.valueOf(jvmGroups),
        "--native-records", String.valueOf(nativeRecords),
        "--record-bytes", String.valueOf(recordBytes),
        "--native-spill", String.valueOf(nativeSpill));
  }

  String describe() {
    return String.format("JVM stage %,d rows into %,d groups; native stage %d sorts of %,d records"
        + " x %d B (%s each, two at a time), then a JVM aggregation", jvmRows, jvmGroups,
        partitions, nativeRecords, recordBytes, Sizes.format(nativeBytesPerTask()));
  }
}
