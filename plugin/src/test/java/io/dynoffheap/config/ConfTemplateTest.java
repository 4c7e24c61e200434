package io.dynoffheap.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dynoffheap.DynamicOffHeapSizingPlugin;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

/**
 * Keeps conf/spark-defaults.conf true: every plugin key in it (set or commented out) exists and
 * its value is valid, the settings it sets are the defaults (except the toggle, which it turns
 * on), and it loads the plugin.
 */
class ConfTemplateTest {
  private static final Path TEMPLATE = Paths.get("..", "conf", "spark-defaults.conf");

  /** One "key value" line of the template; {@code active} is false for a commented-out one. */
  private record Entry(String key, String value, boolean active) {}

  @Test
  void everyPluginKeyOfTheTemplateExistsAndHasAValidValue() throws IOException {
    List<Entry> entries = entries();
    assertFalse(entries.isEmpty(), "no settings found in " + TEMPLATE.toAbsolutePath());
    for (Entry entry : entries) {
      if (!isPluginKey(entry.key())) {
        continue;
      }
      Setting<?> setting = setting(entry.key()).orElseThrow(() -> new AssertionError(
          TEMPLATE + " names " + entry.key() + ", which is not a setting of the plugin"));
      Object value = setting.read(new SparkConf(false).set(entry.key(), entry.value()));
      if (entry.active() && setting != PluginSettings.DYNAMIC_SIZING) {
        assertEquals(setting.defaultValue(), value,
            TEMPLATE + " sets " + entry.key() + " to something other than its default");
      }
    }
  }

  @Test
  void theTemplateLoadsThePluginWithTheFeatureOn() throws IOException {
    SparkConf conf = new SparkConf(false);
    entries().stream().filter(Entry::active).forEach(e -> conf.set(e.key(), e.value()));
    assertEquals(DynamicOffHeapSizingPlugin.class.getName(), conf.get("spark.plugins"));
    assertTrue(PluginSettings.from(conf).dynamicSizing());
    assertFalse(conf.contains("spark.memory.offHeap.size"), "off-heap settings are ignored");
  }

  private static boolean isPluginKey(String key) {
    return key.startsWith("spark.dynoffheap.") || key.startsWith("spark.gluten.");
  }

  private static Optional<Setting<?>> setting(String key) {
    return PluginSettings.ALL.stream().filter(s -> s.key().equals(key)).findFirst();
  }

  /** Lines "key value" and "# key value" whose key starts with "spark.". */
  private static List<Entry> entries() throws IOException {
    List<Entry> entries = new ArrayList<>();
    for (String raw : Files.readAllLines(TEMPLATE, StandardCharsets.UTF_8)) {
      String line = raw.strip();
      boolean active = !line.startsWith("#");
      String body = active ? line : line.substring(1).strip();
      String[] parts = body.split("\\s+", 2);
      if (parts.length == 2 && parts[0].startsWith("spark.")) {
        entries.add(new Entry(parts[0], parts[1].strip(), active));
      }
    }
    return entries;
  }
}
