package io.dynoffheap.timeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SampleBatcherTest {

  static MemorySample at(long epochMs) {
    return new MemorySample(epochMs, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
  }

  @Test
  void aBatchIsCompleteAtTheCountWhenSamplesComeFast() {
    SampleBatcher batcher = new SampleBatcher(3, 1_000);
    assertTrue(batcher.add(at(0)).isEmpty());
    assertTrue(batcher.add(at(10)).isEmpty());
    List<MemorySample> batch = batcher.add(at(20)).orElseThrow();
    assertEquals(List.of(0L, 10L, 20L), batch.stream().map(s -> s.epochMs).toList());
    assertTrue(batcher.add(at(30)).isEmpty(), "the next batch starts empty");
  }

  @Test
  void aBatchIsCompleteAtTheAgeWhenSamplesComeSlowly() {
    SampleBatcher batcher = new SampleBatcher(50, 1_000);
    assertTrue(batcher.add(at(5_000)).isEmpty());
    assertTrue(batcher.add(at(5_999)).isEmpty());
    Optional<List<MemorySample>> batch = batcher.add(at(6_000));
    assertEquals(List.of(5_000L, 5_999L, 6_000L),
        batch.orElseThrow().stream().map(s -> s.epochMs).toList());
  }

  @Test
  void drainHandsOutWhatIsLeftOnce() {
    SampleBatcher batcher = new SampleBatcher(50, 1_000);
    batcher.add(at(1));
    batcher.add(at(2));
    assertEquals(2, batcher.drain().size());
    assertEquals(List.of(), batcher.drain());
  }

  @Test
  void oneSamplePerBatchWhenAskedFor() {
    SampleBatcher batcher = new SampleBatcher(1, 1_000);
    assertEquals(1, batcher.add(at(1)).orElseThrow().size());
  }

  @Test
  void impossibleLimitsAreRefusedWithWhatWasAsked() {
    IllegalArgumentException error =
        assertThrows(IllegalArgumentException.class, () -> new SampleBatcher(0, 1_000));
    assertTrue(error.getMessage().contains("maxSamples=0"), error.getMessage());
  }
}
