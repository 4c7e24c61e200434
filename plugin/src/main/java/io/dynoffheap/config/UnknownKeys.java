package io.dynoffheap.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.SparkConf;

/**
 * Finds keys in a configuration that look like the plugin's but are none of its settings, so a
 * misspelt key fails the start instead of being ignored, and names the setting most likely meant.
 *
 * <p>A key is reported when it starts with one of the prefixes the plugin owns,
 * {@link #OWN_PREFIXES} (compared ignoring case, so {@code spark.DynOffHeap.budget} is caught
 * too), or when it equals one of the plugin's keys ignoring case only (e.g.
 * {@code spark.gluten.memory.reservationblocksize}), and is not a key of the plugin. Other keys,
 * including Gluten's own {@code spark.gluten.*} keys outside those prefixes, are not the plugin's
 * business and pass.
 *
 * <p>The suggestion is the known key at the smallest edit distance from the typed one, compared
 * ignoring case, the first in the given order on a tie. The distance counts single-character
 * edits that turn the typed key into the known one, weighted so that a key with a part left out
 * is nearer than one with a part wrong: a missing character costs 1, an extra or a wrong one 2.
 * So {@code spark.dynoffheap.gc.heapShrink} suggests {@code spark.dynoffheap.gc.heapShrink.enabled}
 * (8 missing characters: 8) rather than {@code spark.dynoffheap.gc.retries} (14), which plain
 * Levenshtein distance would prefer (7 against 8).
 *
 * <p>The keys are read from {@link SparkConf#toDebugString()}, one {@code key=value} per line,
 * because {@code getAll} answers with Scala tuples, and the jar must name no Scala type to run on
 * every Scala line (PluginJarLinkageSuite checks it). A line without {@code =} is part of a value
 * that holds a line break and is skipped.
 */
final class UnknownKeys {
  /**
   * Prefixes under which every key is the plugin's: its own, and that of the feature it
   * implements for Gluten users (whose keys there are the plugin's settings).
   */
  static final List<String> OWN_PREFIXES =
      List.of("spark.dynoffheap.", "spark.gluten.memory.dynamic.offHeap.sizing.");
  private static final int MISSING = 1;
  private static final int EXTRA = 2;
  private static final int WRONG = 2;

  private UnknownKeys() {}

  /** One error per unknown key of {@code conf}, each naming the key, its value and a suggestion. */
  static List<String> errors(SparkConf conf, List<String> knownKeys) {
    List<String> errors = new ArrayList<>();
    for (String line : conf.toDebugString().split("\n")) {
      int equals = line.indexOf('=');
      if (equals <= 0) {
        continue;
      }
      String key = line.substring(0, equals);
      if (!knownKeys.contains(key) && looksLikeThePlugins(key, knownKeys)) {
        errors.add("Unknown setting " + line + ": it is no key of the "
            + "dynamic off-heap sizing plugin (keys under " + String.join(" and ", OWN_PREFIXES)
            + " are its own) and would be ignored. Did you mean " + closest(key, knownKeys)
            + "? docs/configuration.md lists every key.");
      }
    }
    return errors;
  }

  /** The key of {@code knownKeys} nearest to {@code key} by edit distance, ignoring case. */
  static String closest(String key, List<String> knownKeys) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String known : knownKeys) {
      int distance = editDistance(lower(key), lower(known));
      if (distance < bestDistance) {
        best = known;
        bestDistance = distance;
      }
    }
    return best;
  }

  /**
   * The weighted edit distance from {@code typed} to {@code known} (see the class comment), by
   * dynamic programming over prefixes, one row at a time.
   */
  static int editDistance(String typed, String known) {
    int[] previous = new int[known.length() + 1];
    int[] current = new int[known.length() + 1];
    for (int j = 0; j <= known.length(); j++) {
      previous[j] = j * MISSING;
    }
    for (int i = 1; i <= typed.length(); i++) {
      current[0] = i * EXTRA;
      for (int j = 1; j <= known.length(); j++) {
        int keep = previous[j - 1] + (typed.charAt(i - 1) == known.charAt(j - 1) ? 0 : WRONG);
        current[j] = Math.min(keep, Math.min(previous[j] + EXTRA, current[j - 1] + MISSING));
      }
      int[] swap = previous;
      previous = current;
      current = swap;
    }
    return previous[known.length()];
  }

  private static boolean looksLikeThePlugins(String key, List<String> knownKeys) {
    String lowerKey = lower(key);
    return OWN_PREFIXES.stream().anyMatch(prefix -> lowerKey.startsWith(lower(prefix)))
        || knownKeys.stream().anyMatch(known -> lower(known).equals(lowerKey));
  }

  private static String lower(String text) {
    return text.toLowerCase(Locale.ROOT);
  }
}
