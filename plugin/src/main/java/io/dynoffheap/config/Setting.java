package io.dynoffheap.config;

import java.util.Locale;
import java.util.function.Function;
import org.apache.spark.SparkConf;
import org.apache.spark.network.util.JavaUtils;

/**
 * One configuration key of the plugin: its name, default, allowed values and meaning, and how
 * its text becomes a value. Reading a bad value throws {@link IllegalArgumentException} naming
 * the key, the value and what is allowed.
 *
 * @param <T> the parsed type
 */
public final class Setting<T> {
  private final String key;
  private final String defaultText;
  private final String allowed;
  private final String meaning;
  private final Function<String, T> parser;

  private Setting(String key, String defaultText, String allowed, String meaning,
      Function<String, T> parser) {
    this.key = key;
    this.defaultText = defaultText;
    this.allowed = allowed;
    this.meaning = meaning;
    this.parser = parser;
  }

  /** true or false. */
  static Setting<Boolean> bool(String key, boolean defaultValue, String meaning) {
    return new Setting<>(key, Boolean.toString(defaultValue), "true or false", meaning, text -> {
      String value = text.trim().toLowerCase(Locale.ROOT);
      if (!value.equals("true") && !value.equals("false")) {
        throw new IllegalArgumentException();
      }
      return Boolean.valueOf(value);
    });
  }

  /** A whole number in [min, max]. */
  static Setting<Integer> integer(String key, int defaultValue, int min, int max, String meaning) {
    return new Setting<>(key, Integer.toString(defaultValue),
        "a whole number in [" + min + ", " + max + "]", meaning,
        text -> inRange(Integer.parseInt(text.trim()), min, max));
  }

  /** A number in (0, 1]. */
  static Setting<Double> fraction(String key, double defaultValue, String meaning) {
    return new Setting<>(key, Double.toString(defaultValue), "a number in (0, 1]", meaning, text -> {
      double value = Double.parseDouble(text.trim());
      if (!(value > 0 && value <= 1)) {
        throw new IllegalArgumentException();
      }
      return value;
    });
  }

  /** A size such as 8m or 1g, in bytes, in [min, max]; a plain number is bytes. */
  static Setting<Long> bytes(String key, String defaultText, long min, long max, String meaning) {
    return new Setting<>(key, defaultText,
        "a size such as 512k, 8m or 2g (plain numbers are bytes) in [" + min + " B, " + max + " B]",
        meaning, text -> inRange(JavaUtils.byteStringAsBytes(text.trim()), min, max));
  }

  /** A duration such as 10ms or 2s, in milliseconds, in [min, max]; a plain number is milliseconds. */
  static Setting<Long> millis(String key, String defaultText, long min, long max, String meaning) {
    return new Setting<>(key, defaultText,
        "a duration such as 10ms or 2s (plain numbers are ms) in [" + min + " ms, " + max + " ms]",
        meaning, text -> inRange(JavaUtils.timeStringAsMs(text.trim()), min, max));
  }

  /** Free text, such as a path; empty when not set. */
  static Setting<String> text(String key, String meaning) {
    return new Setting<>(key, "", "any text (empty: not set)", meaning, String::trim);
  }

  /** One of the given words, case-insensitive; the value is the lower-case word. */
  static Setting<String> choice(String key, String defaultValue, String meaning, String... values) {
    return new Setting<>(key, defaultValue, "one of " + String.join(", ", values), meaning, text -> {
      String value = text.trim().toLowerCase(Locale.ROOT);
      for (String candidate : values) {
        if (candidate.equals(value)) {
          return candidate;
        }
      }
      throw new IllegalArgumentException();
    });
  }

  /** The value in {@code conf}, or the default; throws naming key, value and range if invalid. */
  public T read(SparkConf conf) {
    String text = conf.get(key, defaultText);
    try {
      return parser.apply(text);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "Invalid value '" + text + "' for " + key + ": expected " + allowed + ". " + meaning, e);
    }
  }

  /** The default, parsed. */
  public T defaultValue() {
    return parser.apply(defaultText);
  }

  public String key() {
    return key;
  }

  public String defaultText() {
    return defaultText;
  }

  public String allowed() {
    return allowed;
  }

  public String meaning() {
    return meaning;
  }

  private static <N extends Comparable<N>> N inRange(N value, N min, N max) {
    if (value.compareTo(min) < 0 || value.compareTo(max) > 0) {
      throw new IllegalArgumentException();
    }
    return value;
  }
}
