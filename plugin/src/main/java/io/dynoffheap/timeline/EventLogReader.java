package io.dynoffheap.timeline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.apache.spark.io.CompressionCodec;

/**
 * Reads the memory timelines out of Spark event logs, as Spark writes them: one application per
 * plain file ({@code app-…}, Spark 3.5's default) or per rolling directory
 * ({@code eventlog_v2_app-…/events_<n>_app-…}, Spark 4's default, read in the order of n), each
 * file compressed or not (the extension names Spark's codec: lz4, lzf, snappy, zstd; a trailing
 * {@code .inprogress} is ignored), one JSON event per line.
 *
 * <p>Given a directory that is no rolling log itself, every log in it is read, one application
 * each. Only lines naming {@link MemoryTimelineEvent} are parsed into events (with the
 * annotated constructors, as the history server would), plus the application start for the
 * application's id and name; other lines are only scanned. A last line cut short (a log still
 * being written) is skipped; any other line that is no JSON fails with its file and number.
 */
public final class EventLogReader {
  private static final String ROLLING_DIR_PREFIX = "eventlog_v2_";
  private static final Pattern ROLLING_PART = Pattern.compile("events_(\\d+)_.*");
  private static final Set<String> CODECS = Set.of("lz4", "lzf", "snappy", "zstd");
  private static final String TIMELINE_MARK = "\"" + MemoryTimelineEvent.EVENT_NAME + "\"";
  private static final String APP_START_MARK = "\"SparkListenerApplicationStart\"";

  private final ObjectMapper mapper = new ObjectMapper()
      .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

  /** Every application in {@code path}: an event log file, a rolling log, or a directory of them. */
  public List<ApplicationTimelines> read(Path path) throws IOException {
    if (!Files.exists(path)) {
      throw new IOException("No event log at " + path + ": give an event log file, a rolling event "
          + "log directory (eventlog_v2_…) or the directory spark.eventLog.dir names.");
    }
    if (Files.isRegularFile(path) || isRollingLog(path)) {
      return List.of(readApplication(path));
    }
    List<ApplicationTimelines> applications = new ArrayList<>();
    try (Stream<Path> children = Files.list(path)) {
      for (Path child : children.sorted().toList()) {
        String name = child.getFileName().toString();
        if (name.startsWith(".")) {
          continue; // Hadoop's checksum files
        }
        if (isRollingLog(child) || (Files.isRegularFile(child) && name.startsWith("app"))) {
          applications.add(readApplication(child));
        }
      }
    }
    return applications;
  }

  private static boolean isRollingLog(Path path) {
    return Files.isDirectory(path) && path.getFileName().toString().startsWith(ROLLING_DIR_PREFIX);
  }

  private ApplicationTimelines readApplication(Path log) throws IOException {
    String fallbackId = log.getFileName().toString().replaceFirst("^" + ROLLING_DIR_PREFIX, "");
    Reading reading = new Reading(fallbackId);
    for (Path file : filesOf(log)) {
      readFile(file, reading);
    }
    return new ApplicationTimelines(reading.appId, reading.appName, reading.events);
  }

  /** The files of one application's log, in the order Spark wrote them. */
  private static List<Path> filesOf(Path log) throws IOException {
    if (Files.isRegularFile(log)) {
      return List.of(log);
    }
    try (Stream<Path> parts = Files.list(log)) {
      return parts.filter(p -> ROLLING_PART.matcher(p.getFileName().toString()).matches())
          .sorted(Comparator.comparingLong(EventLogReader::partIndex)).toList();
    }
  }

  private static long partIndex(Path part) {
    Matcher matcher = ROLLING_PART.matcher(part.getFileName().toString());
    return matcher.matches() ? Long.parseLong(matcher.group(1)) : Long.MAX_VALUE;
  }

  private void readFile(Path file, Reading reading) throws IOException {
    try (BufferedReader lines = new BufferedReader(
        new InputStreamReader(open(file), StandardCharsets.UTF_8))) {
      String line = lines.readLine();
      long number = 0;
      while (line != null) {
        String next = lines.readLine();
        number++;
        try {
          reading.take(line);
        } catch (JsonProcessingException e) {
          if (next != null) {
            throw new IOException(file + " line " + number + " is no JSON event: " + e.getMessage()
                + ". Give the event log Spark wrote (spark.eventLog.dir), unchanged.", e);
          }
        }
        line = next;
      }
    }
  }

  private static InputStream open(Path file) throws IOException {
    String name = file.getFileName().toString().replaceFirst("\\.inprogress$", "");
    String extension = name.substring(name.lastIndexOf('.') + 1);
    InputStream in = Files.newInputStream(file);
    if (name.contains(".") && CODECS.contains(extension)) {
      return CompressionCodec.createCodec(new SparkConf(false), extension).compressedInputStream(in);
    }
    return in;
  }

  /** What one application's log has given so far. */
  private final class Reading {
    private String appId;
    private String appName = "";
    private final List<MemoryTimelineEvent> events = new ArrayList<>();

    Reading(String fallbackId) {
      this.appId = fallbackId;
    }

    void take(String line) throws JsonProcessingException {
      if (line.contains(TIMELINE_MARK)) {
        JsonNode node = mapper.readTree(line);
        if (MemoryTimelineEvent.EVENT_NAME.equals(node.path("Event").asText())) {
          events.add(mapper.treeToValue(node, MemoryTimelineEvent.class));
        }
      } else if (line.contains(APP_START_MARK)) {
        JsonNode node = mapper.readTree(line);
        appId = node.path("App ID").asText(appId);
        appName = node.path("App Name").asText(appName);
      }
    }
  }
}
