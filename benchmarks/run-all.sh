#!/usr/bin/env bash
# Runs the benchmarks of docs/benchmarks.md and rewrites their tables there (the text between
# <!-- table:NAME --> and <!-- /table:NAME --> markers; the prose around them stays).
#
#   benchmarks/run-all.sh                    all seven (40 to 50 minutes on 2 cores)
#   benchmarks/run-all.sh --only allocation  1. allocation path, C (about 1 minute)
#   benchmarks/run-all.sh --only jvm         2. accounting (JMH) and 3. GC burst (3-4 minutes)
#   benchmarks/run-all.sh --only overhead    4. job overhead (7 to 14 minutes, depending on load)
#   benchmarks/run-all.sh --only capacity    5. what it buys (about 13 minutes)
#   benchmarks/run-all.sh --only speed       6. speed against the static split (about 9 minutes)
#   benchmarks/run-all.sh --only spill       7. spills at 50/70/90 % of executor memory (about 6 minutes)
#   benchmarks/run-all.sh --only jobs        4 to 7 on one cluster (35 to 45 minutes)
#   benchmarks/run-all.sh --no-doc ...       run, but leave docs/benchmarks.md alone
#   benchmarks/run-all.sh --tables-only ...  run nothing; put the last results into the doc
#
# Environment: SKIP_BUILD=1 reuses the jars already built; JOB_BENCH_ARGS passes options to the
# job benchmarks (e.g. "--overhead-runs 7 --speed-runs 7 --capacity-trials 8"). Results and logs go to
# benchmarks/target/all/. Nothing here asserts a timing. Needs Java 17+, Maven, gcc, make.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
doc="$root/docs/benchmarks.md"
out="$here/target/all"
java="${JAVA:-java}"
only=all
update_doc=1
run=1

while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || { echo "--only needs allocation, jvm, overhead, capacity, speed, spill or jobs" >&2; exit 2; }
      only="$2"; shift ;;
    --no-doc) update_doc=0 ;;
    --tables-only) run=0 ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$only" in all|allocation|jvm|overhead|capacity|speed|spill|jobs) ;; *)
  echo "--only must be allocation, jvm, overhead, capacity, speed, spill or jobs" >&2; exit 2 ;; esac
wants() { [ "$only" = all ] || [ "$only" = "$1" ] || { [ "$only" = jobs ] && [ "$1" != allocation ] && [ "$1" != jvm ]; }; }

mkdir -p "$out"
start=$(date +%s)
echo "Host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo),"\
  "load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git -C "$root" rev-parse --short HEAD)"

# Replaces the text between the markers of table $1 in the doc with the file $2.
put_table() {
  local name="$1" file="$2"
  [ "$update_doc" = 1 ] || return 0
  [ -f "$file" ] || { echo "run-all.sh: no results in $file; run without --tables-only" >&2; return 1; }
  if ! grep -qx "<!-- table:$name -->" "$doc" || ! grep -qx "<!-- /table:$name -->" "$doc"; then
    echo "run-all.sh: $doc has no markers for table '$name'; left unchanged" >&2
    return 1
  fi
  awk -v opening="<!-- table:$name -->" -v closing="<!-- /table:$name -->" -v file="$file" '
    $0 == opening { print; print ""; while ((getline line < file) > 0) print line; print ""; skip = 1; next }
    $0 == closing { skip = 0 }
    !skip { print }' "$doc" > "$doc.new"
  mv "$doc.new" "$doc"
  echo "    docs/benchmarks.md: table '$name' rewritten"
}

# A program's result lines as an indented block under a line saying when and under what load.
as_block() {
  echo "Run $(date +%F), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end:"
  echo
  sed 's/^/    /'
}

if wants allocation; then
  if [ "$run" = 1 ]; then
    echo "==> 1. Allocation path (cd native-bridge && make bench && ./target/native/dynoffheap_bench)"
    (cd "$root/native-bridge" && make -s bench && ./target/native/dynoffheap_bench) \
      | tee "$out/allocation.log"
    as_block < "$out/allocation.log" > "$out/allocation.md"
  fi
  put_table allocation-path "$out/allocation.md"
fi

if wants jvm; then
  if [ "$run" = 1 ]; then
    echo "==> 2. Accounting and 3. GC burst (benchmarks/run-benchmarks.sh)"
    "$here/run-benchmarks.sh" | tee "$out/jvm.log"
    sed -n '/^=== Accounting benchmark: results ===$/,/^\[2\/2\]/p' "$out/jvm.log" \
      | sed '1d;$d' | as_block > "$out/accounting.md"
    sed -n '/^=== GC burst benchmark: results ===$/,$p' "$out/jvm.log" | sed '1d' \
      | as_block > "$out/gc-burst.md"
  fi
  put_table accounting "$out/accounting.md"
  put_table gc-burst "$out/gc-burst.md"
fi

if [ "$run" = 1 ] && { wants overhead || wants capacity || wants speed || wants spill; }; then
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "==> Building the plugin jar and the job (mvn -B -q package -DskipTests -pl demo -am)"
    (cd "$root" && mvn -B -q package -DskipTests -pl demo -am)
  fi
  job_only=all
  [ "$only" = all ] || [ "$only" = jobs ] || job_only="$only"
  echo "==> 4. Job overhead, 5. What it buys, 6. Speed, 7. Spills (standalone cluster on this machine)"
  # shellcheck disable=SC2086  # JOB_BENCH_ARGS is a list of options
  "$java" -Xmx512m -cp "$root/demo/target/dynoffheap-demo.jar" \
    io.dynoffheap.demo.runner.JobBenchmarks \
    --spark-home "$root/demo/target/spark-home" \
    --plugin-jar "$root/plugin/target/dynoffheap-plugin-0.1.0-SNAPSHOT.jar" \
    --app-jar "$root/demo/target/dynoffheap-demo.jar" \
    --out "$out/jobs" --only "$job_only" ${JOB_BENCH_ARGS:-}
fi
if wants overhead; then put_table job-overhead "$out/jobs/job-overhead.md"; fi
if wants capacity; then put_table job-capacity "$out/jobs/job-capacity.md"; fi
if wants speed; then put_table job-speed "$out/jobs/job-speed.md"; fi
if wants spill; then put_table job-spill "$out/jobs/job-spill.md"; fi

echo "run-all.sh: done in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
