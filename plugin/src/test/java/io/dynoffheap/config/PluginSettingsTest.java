package io.dynoffheap.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class PluginSettingsTest {
  private static final long MIB = 1L << 20;
  private static final long GIB = 1L << 30;

  /** Every key: a good value and what it reads as, a bad value and the range its error names. */
  static Stream<Arguments> everyKey() {
    return Stream.of(
        Arguments.of(PluginSettings.DYNAMIC_SIZING, "TRUE", read(PluginSettings::dynamicSizing), true,
            "yes", "true or false"),
        Arguments.of(PluginSettings.MEMORY_FRACTION, "0.25", read(PluginSettings::memoryFraction), 0.25,
            "0", "(0, 1]"),
        Arguments.of(PluginSettings.RESERVATION_BLOCK, "16m", read(PluginSettings::reservationBlock),
            16 * MIB, "2g", "[4096 B, 1073741824 B]"),
        Arguments.of(PluginSettings.GC_RETRIES, "7", read(PluginSettings::gcRetries), 7,
            "-1", "[0, 100]"),
        Arguments.of(PluginSettings.GC_BACKOFF, "1s", read(PluginSettings::gcBackoffMillis), 1000L,
            "soon", "[0 ms, 60000 ms]"),
        Arguments.of(PluginSettings.GC_INTERVAL, "250ms", read(PluginSettings::gcIntervalMillis), 250L,
            "11min", "[0 ms, 600000 ms]"),
        Arguments.of(PluginSettings.HEAP_SHRINK, "false", read(PluginSettings::heapShrink), false,
            "off", "true or false"),
        Arguments.of(PluginSettings.LEAK_CHECK, "Fail", read(PluginSettings::failOnLeak), true,
            "strict", "one of warn, fail"),
        Arguments.of(PluginSettings.BUDGET, "3g", read(s -> s.budget(123)), 3L << 30,
            "-1", "[0 B, 17592186044416 B]"),
        Arguments.of(PluginSettings.DEBUG, "true", read(PluginSettings::debug), true,
            "verbose", "true or false"),
        Arguments.of(PluginSettings.TIMELINE_INTERVAL, "1s", read(PluginSettings::timelineIntervalMillis),
            1000L, "5ms", "[10 ms, 60000 ms]"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("everyKey")
  void eachKeyAcceptsAGoodValueAndNamesTheRangeForABadOne(Setting<?> setting, String good,
      Function<PluginSettings, Object> getter, Object expected, String bad, String range) {
    PluginSettings settings = PluginSettings.from(new SparkConf(false).set(setting.key(), good));
    assertEquals(expected, getter.apply(settings));

    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.from(new SparkConf(false).set(setting.key(), bad)));
    String message = error.getMessage();
    assertTrue(message.contains(setting.key()), message);
    assertTrue(message.contains("'" + bad + "'"), message);
    assertTrue(message.contains(range), message);
  }

  @Test
  void defaultsNeedNoConfiguration() {
    PluginSettings settings = PluginSettings.from(new SparkConf(false));
    assertFalse(settings.dynamicSizing());
    assertEquals(0.6, settings.memoryFraction());
    assertEquals(8 * MIB, settings.reservationBlock());
    assertEquals(3, settings.gcRetries());
    assertEquals(20, settings.gcBackoffMillis());
    assertEquals(1000, settings.gcIntervalMillis());
    assertTrue(settings.heapShrink());
    assertFalse(settings.failOnLeak());
    assertFalse(settings.debug());
    assertEquals(1234, settings.budget(1234), "budget 0 means the JVM's max heap");
  }

  @Test
  void everyBadValueIsReportedAtOnce() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.from(new SparkConf(false)
            .set(PluginSettings.GC_RETRIES.key(), "many")
            .set(PluginSettings.MEMORY_FRACTION.key(), "1.5")));
    assertTrue(error.getMessage().contains(PluginSettings.GC_RETRIES.key()), error.getMessage());
    assertTrue(error.getMessage().contains(PluginSettings.MEMORY_FRACTION.key()), error.getMessage());
  }

  @Test
  void aMisspeltKeyOfThePluginFailsWithTheKeyItMostLikelyMeant() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.from(new SparkConf(false).set("spark.dynoffheap.leakcheck", "fail")));
    assertTrue(error.getMessage().contains("Unknown setting spark.dynoffheap.leakcheck=fail: it is "
        + "no key of the dynamic off-heap sizing plugin (keys under spark.dynoffheap. and "
        + "spark.gluten.memory.dynamic.offHeap.sizing. are its own) and would be ignored. Did you "
        + "mean spark.dynoffheap.leakCheck?"), error.getMessage());
  }

  /** Misspelt key, and the key the error suggests. */
  static Stream<Arguments> misspeltKeys() {
    return Stream.of(
        Arguments.of("spark.dynoffheap.gc.retry", "spark.dynoffheap.gc.retries"),
        Arguments.of("spark.dynoffheap.budgett", "spark.dynoffheap.budget"),
        Arguments.of("spark.dynoffheap.timeline.directory", "spark.dynoffheap.timeline.dir"),
        Arguments.of("spark.dynoffheap.gc.heapShrink", "spark.dynoffheap.gc.heapShrink.enabled"),
        Arguments.of("spark.DynOffHeap.gc.interval", "spark.dynoffheap.gc.interval"),
        Arguments.of("spark.gluten.memory.dynamic.offheap.sizing.enabled",
            "spark.gluten.memory.dynamic.offHeap.sizing.enabled"),
        Arguments.of("spark.gluten.memory.dynamic.offHeap.sizing.fraction",
            "spark.gluten.memory.dynamic.offHeap.sizing.memory.fraction"),
        Arguments.of("spark.gluten.memory.reservationblocksize",
            "spark.gluten.memory.reservationBlockSize"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("misspeltKeys")
  void everyMisspeltKeyNamesTheClosestSetting(String misspelt, String meant) {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.from(new SparkConf(false).set(misspelt, "1")));
    assertTrue(error.getMessage().contains("Unknown setting " + misspelt + "=1"), error.getMessage());
    assertTrue(error.getMessage().contains("Did you mean " + meant + "?"), error.getMessage());
  }

  @Test
  void keysThePluginDoesNotOwnPass() {
    SparkConf conf = new SparkConf(false)
        .set("spark.gluten.sql.columnar.backend.lib", "velox")
        .set("spark.gluten.memory.overAcquiredMemoryRatio", "0.3")
        .set("spark.gluten.memory.dynamic.offHeap", "not under the sizing prefix")
        .set("spark.dynoffheapTest.sessionId", "7")
        .set("spark.memory.offHeap.size", "2g")
        .set("spark.executor.memory", "4g");
    for (Setting<?> setting : PluginSettings.ALL) {
      conf.set(setting.key(), setting.defaultText());
    }
    PluginSettings.from(conf);
  }

  @Test
  void unknownKeysAndBadValuesAreReportedInOneMessage() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.from(new SparkConf(false)
            .set("spark.dynoffheap.gc.retrys", "5")
            .set(PluginSettings.GC_BACKOFF.key(), "soon")));
    assertTrue(error.getMessage().contains("Did you mean spark.dynoffheap.gc.retries?"),
        error.getMessage());
    assertTrue(error.getMessage().contains("'soon' for spark.dynoffheap.gc.backoff"),
        error.getMessage());
  }

  @Test
  void editDistanceWeighsMissingCharactersLessThanExtraOrWrongOnes() {
    assertEquals(0, UnknownKeys.editDistance("budget", "budget"));
    assertEquals(1, UnknownKeys.editDistance("budget", "budgett"), "one missing");
    assertEquals(2, UnknownKeys.editDistance("budgett", "budget"), "one extra");
    assertEquals(2, UnknownKeys.editDistance("budgat", "budget"), "one wrong");
    assertEquals(3, UnknownKeys.editDistance("retrys", "retries"), "one wrong, one missing");
    assertEquals(8, UnknownKeys.editDistance("heapShrink", "heapShrink.enabled"));
    assertEquals(6, UnknownKeys.editDistance("", "budget"));
    assertEquals(12, UnknownKeys.editDistance("budget", ""));
  }

  @Test
  void aBudgetBelowTheExecutorHeapFailsOnTheDriverWithTheRange() {
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.forDriver(new SparkConf(false).set(PluginSettings.BUDGET.key(), "1k"),
            GIB, 8 * GIB));
    String message = error.getMessage();
    assertTrue(message.contains("Invalid value 1024 (1.0 KiB) for spark.dynoffheap.budget: it is below the "
        + "executor's max heap (spark.executor.memory)"), message);
    assertTrue(message.contains("Allowed: 0 (the executor's max heap) or a size in "
        + "[1073741824 (1.0 GiB), 8589934592 (8.0 GiB)]"), message);
  }

  @Test
  void aBudgetAboveTheMachineFailsOnTheDriverWhenItKnowsTheMachine() {
    SparkConf conf = new SparkConf(false).set(PluginSettings.BUDGET.key(), "16t");
    IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
        () -> PluginSettings.forDriver(conf, GIB, 8 * GIB));
    assertTrue(error.getMessage().contains("Invalid value 17592186044416 (16.0 TiB) for "
        + "spark.dynoffheap.budget: it is above the physical memory of the executor's machine"),
        error.getMessage());

    PluginSettings unknownMachine = PluginSettings.forDriver(conf, GIB, 0);
    assertEquals(16L << 40, unknownMachine.budget(GIB), "a cluster driver cannot know the machine");
    String onTheExecutor = unknownMachine.budgetProblem(GIB, 8 * GIB).orElseThrow();
    assertTrue(onTheExecutor.contains("[1073741824 (1.0 GiB), 8589934592 (8.0 GiB)]"), onTheExecutor);
  }

  @Test
  void aBudgetFromTheHeapToTheMachineOrZeroPasses() {
    for (String budget : List.of("0", "1g", "3g", "8g")) {
      PluginSettings settings = PluginSettings.forDriver(
          new SparkConf(false).set(PluginSettings.BUDGET.key(), budget), GIB, 8 * GIB);
      assertEquals(Optional.empty(), settings.budgetProblem(GIB, 8 * GIB), budget);
    }
  }

  @Test
  void everySettingIsListedOnce() {
    List<String> keys = PluginSettings.ALL.stream().map(Setting::key).toList();
    assertEquals(keys.size(), keys.stream().distinct().count());
    assertEquals(14, keys.size());
  }

  @Test
  void timelineDirectoryIsFreeTextAndOffByDefault() {
    assertEquals("", PluginSettings.from(new SparkConf(false)).timelineDir());
    assertEquals("/tmp/t", PluginSettings.from(new SparkConf(false)
        .set(PluginSettings.TIMELINE_DIR.key(), " /tmp/t ")).timelineDir());
  }

  /** docs/configuration.md must show exactly the table generated from the settings. */
  @Test
  void configurationDocumentMatchesTheSettings() throws IOException {
    Path doc = Paths.get("..", "docs", "configuration.md");
    String table = PluginSettings.markdownTable();
    String text = Files.exists(doc) ? Files.readString(doc, StandardCharsets.UTF_8) : "";
    if (!text.contains(table)) {
      Path expected = Paths.get("target", "configuration-table.md");
      Files.writeString(expected, table, StandardCharsets.UTF_8);
      throw new AssertionError(doc.toAbsolutePath() + " does not contain the current settings table; "
          + "replace its table with " + expected.toAbsolutePath());
    }
  }

  private static Function<PluginSettings, Object> read(Function<PluginSettings, Object> getter) {
    return getter;
  }
}
