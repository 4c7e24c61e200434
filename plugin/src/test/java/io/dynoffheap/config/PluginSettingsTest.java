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
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class PluginSettingsTest {
  private static final long MIB = 1L << 20;

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
  void everySettingIsListedOnce() {
    List<String> keys = PluginSettings.ALL.stream().map(Setting::key).toList();
    assertEquals(keys.size(), keys.stream().distinct().count());
    assertEquals(11, keys.size());
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
