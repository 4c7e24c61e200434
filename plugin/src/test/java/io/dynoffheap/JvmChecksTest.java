package io.dynoffheap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JvmChecksTest {
  private static final Map<String, String> GOOD = Map.of("UseG1GC", "true",
      "DisableExplicitGC", "false", "ExplicitGCInvokesConcurrent", "false",
      "InitialHeapSize", "268435456", "MaxHeapSize", "1073741824");

  @Test
  void aG1JvmThatMayShrinkHasNothingToSay() {
    assertEquals(List.of(), JvmChecks.warnings(GOOD));
  }

  @Test
  void eachDefeatingFlagIsNamedWithItsConsequence() {
    assertWarns(with("DisableExplicitGC", "true"), "-XX:+DisableExplicitGC", "never given back");
    assertWarns(with("ExplicitGCInvokesConcurrent", "true"), "-XX:+ExplicitGCInvokesConcurrent",
        "does not shrink");
    assertWarns(with("InitialHeapSize", "1073741824"), "-Xms equals -Xmx", "never shrink");
    Map<String, String> parallel = new java.util.HashMap<>(with("UseG1GC", "false"));
    parallel.put("UseParallelGC", "true");
    assertWarns(parallel, "-XX:+UseParallelGC", "validated with G1 only");
  }

  @Test
  void thisJvmCanBeChecked() {
    // The test JVM runs G1 without -Xms = -Xmx: nothing to warn about.
    assertEquals(List.of(), JvmChecks.warningsForThisJvm());
  }

  private static Map<String, String> with(String flag, String value) {
    Map<String, String> flags = new java.util.HashMap<>(GOOD);
    flags.put(flag, value);
    return flags;
  }

  private static void assertWarns(Map<String, String> flags, String... words) {
    List<String> warnings = JvmChecks.warnings(flags);
    assertEquals(1, warnings.size(), warnings.toString());
    for (String word : words) {
      assertTrue(warnings.get(0).contains(word), warnings.get(0));
    }
  }
}
