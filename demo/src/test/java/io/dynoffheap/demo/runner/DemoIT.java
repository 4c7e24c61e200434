package io.dynoffheap.demo.runner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Runs the demo the way README tells users to, in reduced size and without the Maven build
 * (this build has just made the jars): {@code run-demo.sh --quick --no-build}. Then checks what
 * a newcomer would see: the comparison was printed, the run with dynamic sizing finished, the
 * timeline pictures exist and are not empty, and no process of the demo (Master, Worker,
 * spark-submit, executors) is left running.
 *
 * <p>Paths come from the pom (failsafe's system properties): demo.script, demo.plugin.jar,
 * demo.output, demo.spark.home, demo.timeout.seconds.
 */
class DemoIT {
  private static final Pattern PICTURE = Pattern.compile("^  dynamic sizing on: (\\S+\\.html)$",
      Pattern.MULTILINE);
  private static final Pattern REPORT = Pattern.compile("^  both runs and the table: (\\S+\\.html)$",
      Pattern.MULTILINE);

  @Test
  void quickDemoPrintsTheComparisonDrawsThePicturesAndLeavesNothingRunning() throws Exception {
    Path script = Path.of(property("demo.script"));
    Path out = Path.of(property("demo.output"));
    Path sparkHome = Path.of(property("demo.spark.home")).toAbsolutePath();
    long timeoutSeconds = Long.parseLong(property("demo.timeout.seconds"));
    assertTrue(Files.isRegularFile(Path.of(property("demo.plugin.jar"))),
        "the plugin jar must be built first (mvn -B install -DskipTests at the root)");
    String runId = "it-" + ProcessHandle.current().pid() + "-" + System.currentTimeMillis();

    Files.createDirectories(out);
    Path console = out.resolve("console.txt");
    ProcessBuilder builder = new ProcessBuilder("bash", script.toString(), "--quick", "--no-build",
        "--out", out.toString(), "--run-id", runId)
        .redirectErrorStream(true).redirectOutput(console.toFile());
    builder.environment().put("JAVA_HOME", System.getProperty("java.home"));
    long start = System.nanoTime();
    Process demo = builder.start();
    boolean ended = demo.waitFor(timeoutSeconds, TimeUnit.SECONDS);
    if (!ended) {
      demo.destroy(); // the script's trap stops the runner, whose hook stops the cluster
      demo.waitFor(60, TimeUnit.SECONDS);
    }
    String output = Files.readString(console, StandardCharsets.UTF_8);
    System.out.println(output);
    System.out.printf("demo took %.1f s%n", (System.nanoTime() - start) / 1e9);
    List<String> left = demoProcesses(runId, sparkHome);
    assertTrue(ended, "the quick demo did not end within " + timeoutSeconds + " s");
    assertTrue(left.isEmpty(), "processes of the demo are still running: " + left);

    assertEquals(0, demo.exitValue(), "run-demo.sh failed; its output:\n" + output);
    assertTrue(output.contains("Comparison (same job, same data"), "no comparison printed");
    assertTrue(output.contains("peak tracked native bytes") && output.contains("GC episodes"),
        "the comparison lacks its rows");
    assertTrue(output.matches("(?s).*\\n  finished\\s+yes\\s.*"),
        "the run with dynamic sizing (first column) did not finish");
    assertTrue(output.contains("no Spark process of this demo is left running"),
        "the runner did not confirm that the cluster is gone");

    for (Pattern pattern : List.of(PICTURE, REPORT)) {
      Matcher matcher = pattern.matcher(output);
      assertTrue(matcher.find(), "no picture path printed (" + pattern + ")");
      Path picture = Path.of(matcher.group(1));
      assertTrue(Files.isRegularFile(picture) && Files.size(picture) > 0, picture + " is empty");
      String html = Files.readString(picture, StandardCharsets.UTF_8);
      assertTrue(html.contains("<svg") && html.contains("<polyline"), picture + " has no chart");
      assertTrue(!html.contains("<script") && !html.contains("<link"), picture
          + " is not self-contained");
    }
  }

  /** Processes whose command line carries the run's marker or runs from the demo's Spark home. */
  private static List<String> demoProcesses(String runId, Path sparkHome) throws IOException {
    String marker = "-D" + ClusterSession.MARKER_PROPERTY + "=" + runId;
    List<String> found = new ArrayList<>();
    long self = ProcessHandle.current().pid();
    ProcessHandle.allProcesses().filter(p -> p.pid() != self && p.isAlive()).forEach(p -> {
      String line = p.info().commandLine().orElse("");
      if (line.contains(marker) || line.contains(sparkHome.toString())) {
        found.add(p.pid() + ": " + (line.length() > 200 ? line.substring(0, 200) + "..." : line));
      }
    });
    return found;
  }

  private static String property(String name) {
    String value = System.getProperty(name);
    if (value == null || value.isBlank()) {
      fail("system property " + name + " is not set (the pom's failsafe configuration sets it)");
    }
    return value;
  }
}
