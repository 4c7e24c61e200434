#!/usr/bin/env bash
# Builds the plugin jar and runs the demo job on a Spark standalone cluster on this machine:
# the same job twice (dynamic off-heap sizing on; the static heap/off-heap split), then a
# comparison table and a memory timeline picture per run.
#
#   ./demo/run-demo.sh              build, then run the demo (about 1.5 minutes after the build)
#   ./demo/run-demo.sh --quick      reduced size, as the integration test runs it (35 to 75 s)
#   ./demo/run-demo.sh --no-build   use the jars already built
#   ./demo/run-demo.sh --out DIR    where logs, timelines and pictures go (default demo/target/demo-output)
#   ./demo/run-demo.sh --spark V    run the cluster on Spark V (e.g. 3.5.7, 4.1.3, 4.2.0): any release of
#                                   a line in the support matrix (README.md); default the build's line
#
# Needs Java 17+, Maven 3.8+, gcc and make. Downloads only from Maven Central (Spark's jars, through
# Maven). Ctrl-C stops the cluster; no Spark process is left running.
set -euo pipefail

DEMO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DEMO_DIR")"
BUILD=1
RUNNER_ARGS=()
OUT="$DEMO_DIR/target/demo-output"
RUN_ID="demo-$$-$(date +%s)"
SPARK_VERSION=""

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RUNNER_ARGS+=(--quick) ;;
    --no-build) BUILD=0 ;;
    --spark) [ $# -ge 2 ] || { echo "--spark needs a Spark version, e.g. 4.2.0" >&2; exit 2; }
      SPARK_VERSION="$2"; shift ;;
    --out) [ $# -ge 2 ] || { echo "--out needs a directory" >&2; exit 2; }; OUT="$2"; shift ;;
    --run-id) [ $# -ge 2 ] || { echo "--run-id needs a value" >&2; exit 2; }; RUN_ID="$2"; shift ;;
    --timeout-seconds) [ $# -ge 2 ] || { echo "--timeout-seconds needs a value" >&2; exit 2; }
      RUNNER_ARGS+=(--timeout-seconds "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ "${DEMO_QUICK:-0}" = "1" ]; then
  RUNNER_ARGS+=(--quick)
fi

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "run-demo.sh: '$1' is needed: $2" >&2; exit 1; }
}
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
  JAVA="$JAVA_HOME/bin/java"
else
  need java "install Java 17 or newer"
  JAVA=java
fi
JAVA_MAJOR="$("$JAVA" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }')"
if [ -z "$JAVA_MAJOR" ] || [ "$JAVA_MAJOR" -lt 17 ]; then
  echo "run-demo.sh: Java 17 or newer is needed; $JAVA is version ${JAVA_MAJOR:-unknown}" >&2
  exit 1
fi

# The Maven arguments for the Spark line of --spark: the root pom's spark-<major.minor> profile
# (which sets that line's Scala, Arrow and slf4j), or none for the default line, and the release.
LINE_ARGS=()
default_line="$(sed -n 's:.*<spark.version>\([0-9]*\.[0-9]*\)\..*</spark.version>.*:\1:p' "$ROOT/pom.xml" | head -1)"
line="$default_line"
if [ -n "$SPARK_VERSION" ]; then
  line="$(echo "$SPARK_VERSION" | sed -n 's/^\([0-9]*\.[0-9]*\)\.[0-9].*$/\1/p')"
  lines="$default_line $(sed -n 's:.*<id>spark-\([0-9.]*\)</id>.*:\1:p' "$ROOT/pom.xml" | tr '\n' ' ')"
  if [ -z "$line" ] || ! echo " $lines " | grep -q " $line "; then
    echo "run-demo.sh: --spark $SPARK_VERSION is not a release of a supported line (${lines% });" \
      "give one such as 4.2.0" >&2
    exit 2
  fi
  [ "$line" = "$default_line" ] || LINE_ARGS+=("-Pspark-$line")
  LINE_ARGS+=("-Dspark.version=$SPARK_VERSION")
fi
# Spark before 4.2 fails on Java 24 and later in Hadoop (Subject.getSubject is gone; see
# RuntimeSupport in the plugin and the support matrix in README.md).
if [ "$JAVA_MAJOR" -ge 24 ] && [ "$(printf '%s\n4.2\n' "$line" | sort -V | head -1)" != "4.2" ]; then
  echo "run-demo.sh: Spark $line cannot run on Java $JAVA_MAJOR ($JAVA): its Hadoop calls" \
    "Subject.getSubject, which Java 24 and later no longer support. Use Java 17 (JAVA_HOME)" \
    "or --spark 4.2.0." >&2
  exit 1
fi

VERSION=0.1.0-SNAPSHOT
PLUGIN_JAR="$ROOT/plugin/target/dynoffheap-plugin-$VERSION.jar"
APP_JAR="$DEMO_DIR/target/dynoffheap-demo.jar"
SPARK_HOME_DIR="$DEMO_DIR/target/spark-home"

if [ "$BUILD" = 1 ]; then
  need mvn "install Maven 3.8 or newer"
  need gcc "the native bridge and the sample operator are compiled from C"
  need make "the native bridge and the sample operator are built by make"
  # The first build also resolves Spark's jars from Maven Central into demo/target/spark-home;
  # later builds reuse them.
  if grep -q '<module>demo</module>' "$ROOT/pom.xml" \
      && grep -q '<module>sample-operator</module>' "$ROOT/pom.xml"; then
    echo "==> Building the plugin jar and the demo (mvn -B -q package -DskipTests -pl demo -am ${LINE_ARGS[*]+${LINE_ARGS[*]}}) ..."
    (cd "$ROOT" && mvn -B -q package -DskipTests -pl demo -am ${LINE_ARGS[@]+"${LINE_ARGS[@]}"})
  else
    # The root pom does not list the new modules yet: build them on their own, after installing
    # what they depend on.
    echo "==> Building the plugin jar (mvn -B -q install -DskipTests -pl plugin -am) ..."
    (cd "$ROOT" && mvn -B -q install -DskipTests -pl plugin -am)
    echo "==> Building the sample operator and the demo ..."
    (cd "$ROOT" && mvn -B -q -f sample-operator/pom.xml install -DskipTests \
      && mvn -B -q -f demo/pom.xml package -DskipTests)
  fi
fi
for f in "$PLUGIN_JAR" "$APP_JAR"; do
  [ -f "$f" ] || { echo "run-demo.sh: $f is missing; run without --no-build" >&2; exit 1; }
done
if [ -n "$SPARK_VERSION" ] && ! grep -q "^Spark $SPARK_VERSION " "$SPARK_HOME_DIR/RELEASE" 2>/dev/null; then
  echo "run-demo.sh: --spark $SPARK_VERSION asked, but $SPARK_HOME_DIR holds" \
    "$(cat "$SPARK_HOME_DIR/RELEASE" 2>/dev/null || echo "no Spark"); run without --no-build" >&2
  exit 1
fi

# Every process of this demo carries the marker below on its command line (the runner passes it
# to the Master, the Worker, spark-submit and the executors). The runner stops them all itself;
# this is the safety net for when the runner could not (it was killed with SIGKILL, say).
MARKER="-Ddynoffheap.demo.run=$RUN_ID"
RUNNER_PID=""

# The marker is given to awk in two halves, so that awk's own command line does not match.
demo_pids() {
  ps -eo pid=,args= | awk -v head="${MARKER%%.run=*}" -v tail=".run=$RUN_ID" \
    'index($0, head tail) > 0 { print $1 }'
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$RUNNER_PID" ] && kill -0 "$RUNNER_PID" 2>/dev/null; then
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    wait "$RUNNER_PID" 2>/dev/null || true
  fi
  local left
  left="$(demo_pids)"
  if [ -n "$left" ]; then
    echo "run-demo.sh: stopping leftover demo processes: $(echo $left)" >&2
    kill -TERM $left 2>/dev/null || true
    for _ in $(seq 1 50); do
      left="$(demo_pids)"
      [ -z "$left" ] && break
      sleep 0.2
    done
    [ -n "$left" ] && kill -KILL $left 2>/dev/null || true
  fi
  exit "$status"
}

on_signal() {
  echo >&2
  echo "run-demo.sh: interrupted; stopping the demo cluster ..." >&2
  exit 130
}

trap cleanup EXIT
trap on_signal INT TERM

# The runner runs in the background so that a signal reaches this script at once (bash runs
# traps only between foreground commands); the trap then stops the runner, whose shutdown hook
# stops the cluster.
"$JAVA" -Xmx512m -cp "$APP_JAR" io.dynoffheap.demo.runner.DemoRunner \
  --spark-home "$SPARK_HOME_DIR" --plugin-jar "$PLUGIN_JAR" --app-jar "$APP_JAR" \
  --out "$OUT" --run-id "$RUN_ID" ${RUNNER_ARGS[@]+"${RUNNER_ARGS[@]}"} &
RUNNER_PID=$!
set +e
wait "$RUNNER_PID"
STATUS=$?
set -e
RUNNER_PID=""
exit "$STATUS"
