package io.dynoffheap.demo.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The arguments the demo runner and the job benchmarks share, read through both parsers. */
class ClusterArgsTest {
  private static final List<String> COMMON = List.of("--spark-home", "home", "--plugin-jar",
      "plugin.jar", "--app-jar", "app.jar", "--out", "out", "--run-id", "r-1");

  @Test
  void bothProgramsReadTheCommonArgumentsAndTheirOwn() {
    String[] demo = args("--quick", "--timeout-seconds", "7");
    DemoRunner.Options demoOptions = DemoRunner.Options.parse(demo);
    assertEquals(Path.of("home").toAbsolutePath(), demoOptions.sparkHome());
    assertEquals("r-1", demoOptions.runId());
    assertEquals(JobSize.QUICK, demoOptions.size());
    assertEquals(7000, demoOptions.timeoutMillis());

    JobBenchmarks.Options bench = JobBenchmarks.Options.parse(args("--only", "overhead",
        "--capacity-memories-mib", "512, 1024"));
    assertEquals(Path.of("app.jar").toAbsolutePath(), bench.appJar());
    assertEquals(Path.of("out").toAbsolutePath(), bench.out());
    assertEquals("overhead", bench.only());
    assertEquals(List.of(512L << 20, 1024L << 20), bench.capacityMemories());
  }

  @Test
  void wrongArgumentsAreNamed() {
    assertMessage("unknown argument '--colour'",
        () -> DemoRunner.Options.parse(args("--colour", "red")));
    assertMessage("--out needs a value", () -> JobBenchmarks.Options.parse(new String[] {"--out"}));
    assertMessage("are required", () -> DemoRunner.Options.parse(new String[] {"--quick"}));
    assertMessage("--run-id may only contain", () -> JobBenchmarks.Options.parse(
        args("--run-id", "a b")));
  }

  private static void assertMessage(String part, Runnable parse) {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class, parse::run);
    assertTrue(error.getMessage().contains(part), error.getMessage());
  }

  /** The common arguments followed by {@code more} (a later --run-id wins). */
  private static String[] args(String... more) {
    List<String> all = new ArrayList<>(COMMON);
    all.addAll(List.of(more));
    return all.toArray(String[]::new);
  }
}
