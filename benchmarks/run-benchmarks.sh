#!/usr/bin/env bash
# Builds the benchmarks jar and runs both benchmarks, one after the other, printing their tables.
#
#   benchmarks/run-benchmarks.sh                 # build, then accounting (JMH) and GC burst
#   SKIP_BUILD=1 benchmarks/run-benchmarks.sh    # reuse benchmarks/target/benchmarks.jar
#   ACCOUNTING_ARGS="-f 2 -i 10" GC_BURST_ARGS="--rounds 5" benchmarks/run-benchmarks.sh
#   SKIP_GC_BURST=1 benchmarks/run-benchmarks.sh  # accounting only
#
# Defaults are short but meaningful on a 2-core machine (about 4 minutes in all): JMH 1 fork,
# 3 x 1 s warm-up, 5 x 1 s measurement, 1 and 2 threads; GC burst 3 rounds of N = 1, 2, 8, 32.
# Full logs go to benchmarks/target/benchmark-results/. Nothing here asserts a timing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="$here/target/benchmarks.jar"
results="$here/target/benchmark-results"
java="${JAVA:-java}"

build() {
  cd "$root"
  if grep -q '<module>benchmarks</module>' pom.xml; then
    mvn -B -q -pl benchmarks -am package -DskipTests
  else
    # Not yet in the root reactor: install the parent POM and the plugin (with whatever reactor
    # modules it depends on), then package this module.
    mvn -B -q -N install
    mvn -B -q -pl plugin -am install -DskipTests
    mvn -B -q -f benchmarks/pom.xml package
  fi
}

mkdir -p "$results"
# One run of this script at a time: two benchmarks sharing the cores measure each other.
exec 9>"$results/.lock"
if ! flock -n 9; then
  echo "Another run-benchmarks.sh is running; wait for it to finish." >&2
  exit 1
fi

if [[ "${SKIP_BUILD:-0}" != 1 || ! -f "$jar" ]]; then
  echo "Building $jar ..."
  build
fi

echo "Host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $("$java" -version 2>&1 | head -1)"
echo "Commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo

echo "[1/2] Accounting throughput (JMH), log: $results/accounting.log"
# shellcheck disable=SC2086  # ACCOUNTING_ARGS is a list of JMH options
"$java" -cp "$jar" io.dynoffheap.benchmarks.AccountingReport ${ACCOUNTING_ARGS:-} \
  > "$results/accounting.log" 2>&1 || { tail -40 "$results/accounting.log"; exit 1; }
sed -n '/^=== Accounting benchmark: results ===$/,$p' "$results/accounting.log"

if [[ "${SKIP_GC_BURST:-0}" == 1 ]]; then
  exit 0
fi

echo "[2/2] GC burst, log: $results/gc-burst.log"
# A fixed collector and a heap that may shrink (no -Xms), so that HeapShrink has something to do.
# shellcheck disable=SC2086
"$java" -Xmx1g -XX:+UseG1GC -cp "$jar" io.dynoffheap.benchmarks.GcBurst ${GC_BURST_ARGS:-} \
  > "$results/gc-burst.log" 2>&1 || { tail -40 "$results/gc-burst.log"; exit 1; }
sed -n '/^=== GC burst benchmark: results ===$/,$p' "$results/gc-burst.log"
