#!/usr/bin/env bash
# 8. Budget overshoot: runs src-test-spark's BudgetOvershootSuite (200 tasks of random native
# reservations and heap arrays on a 1 GiB local-cluster executor) with the heap watch measuring
# only (A: spark.dynoffheap.gc.heapWatch.enabled=false) and acting (B: the default), in the order
# A B B A repeated, and prints each run's worst excess of heap + native over the budget, its time
# above the budget and its wall time, then the medians of each side.
#
#   benchmarks/overshoot.sh [PAIRS]     PAIRS pairs (default 4: A B B A A B B A), 6-10 minutes
#
# Needs the jars of an earlier build (mvn -B -pl plugin,sample-operator -am package -DskipTests).
# Logs go to benchmarks/target/overshoot/. Nothing here asserts a figure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
pairs="${1:-4}"
case "$pairs" in ''|*[!0-9]*) echo "PAIRS must be a positive number, was '$pairs'" >&2; exit 2 ;; esac
[ "$pairs" -ge 1 ] || { echo "PAIRS must be at least 1" >&2; exit 2; }
out="$here/target/overshoot"
mkdir -p "$out"
echo "Host: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$root" rev-parse --short HEAD)"

run() { # $1 = run number, $2 = heap watch acting (true/false)
  local log="$out/run-$1-watch-$2.log"
  mvn -B -o -f "$root/pom.xml" -pl src-test-spark verify -Ddynoffheap.prebuilt \
    -Dsuites=io.dynoffheap.sparktest.e2e.BudgetOvershootSuite -Ddynoffheap.heapWatch="$2" \
    >"$log" 2>&1 || { echo "run $1 (watch $2) failed: see $log" >&2; return 1; }
  local line
  line="$(grep -m1 '^  + .* tasks' "$log")"
  # "NNN ms, 200 tasks (...), heap watch W: ... by at most X MiB (P % of it), T ms above it ..."
  echo "$line" | sed -E 's/^  \+ ([0-9]+) ms.*by at most ([0-9]+) MiB \(([0-9.]+) % of it\), ([0-9]+) ms above it in ([0-9]+) excursion.*; ([0-9]+) GC episode.*/\2 \3 \4 \5 \6 \1/' \
    | { read -r mib pct above exc episodes wall; printf '%-4s %-6s %6s MiB %5s %% %6s ms above %3s excursions %3s episodes %7s ms\n' "$1" "$2" "$mib" "$pct" "$above" "$exc" "$episodes" "$wall"; echo "$2 $mib $above $wall" >>"$out/figures"; }
}

: >"$out/figures"
n=0
for ((p = 0; p < pairs; p++)); do
  if ((p % 2 == 0)); then order="false true"; else order="true false"; fi
  for watch in $order; do n=$((n + 1)); run "$n" "$watch"; done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for watch in false true; do
  printf 'heap watch %-5s: median worst excess %s MiB, median time above %s ms, median wall %s ms\n' "$watch" \
    "$(awk -v w="$watch" '$1 == w { print $2 }' "$out/figures" | median)" \
    "$(awk -v w="$watch" '$1 == w { print $3 }' "$out/figures" | median)" \
    "$(awk -v w="$watch" '$1 == w { print $4 }' "$out/figures" | median)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
