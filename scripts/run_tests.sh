#!/usr/bin/env bash
# `make test`: the whole suite, in two lanes that run side by side.
#
#   lane 1  every test of the project's venv but the vLLM ones (-m "not full and not vllm") and
#           BALANCING_TESTS
#   lane 2  the tests that serve real models with `vllm serve` (-m vllm), BALANCING_TESTS, then
#           the full tier's tests in its own venv (-m full)
#
# Why two lanes: most of lane 2 is vLLM servers starting (Python processes importing torch and
# vLLM, one core's work for minutes) while pytest in lane 1 is one process too, so on two cores
# they overlap instead of queueing. Lane 1 prints as it goes; lane 2 writes to a log that is
# printed when both are done. Exits non-zero when any part fails; one failing part does not stop
# the others. With one core, or VIDAGENT_TEST_LANES=1, the lanes run one after the other.
#
# Environment: VIDAGENT_TEST_PYTHON (default .venv/bin/python), VIDAGENT_FULL_PYTHON (default
# ~/.cache/vidagent/full-venv/bin/python).
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${VIDAGENT_TEST_PYTHON:-.venv/bin/python}"
FULL_PY="${VIDAGENT_FULL_PYTHON:-${XDG_CACHE_HOME:-$HOME/.cache}/vidagent/full-venv/bin/python}"
LANES="${VIDAGENT_TEST_LANES:-$(( $(nproc) >= 2 ? 2 : 1 ))}"
# Moved from lane 1 to lane 2 so that the lanes end together (measured: lane 1 913 s, lane 2 681 s
# without them). The schema fuzzer runs for a fixed 90 s of generated requests, whatever the load.
# (A list of paths separated by spaces: the lanes run as `bash -c`, where no array is passed.)
BALANCING_TESTS="tests/server/test_schema.py"

# Each part: its name, then its command. A part that fails is named in the summary.
run_part() {
  local name="$1"; shift
  local start=$SECONDS
  "$@"
  local rc=$?
  echo "run_tests.sh: part '$name' exited $rc after $((SECONDS - start)) s"
  return $rc
}

lane_1() {
  local -a balancing; read -ra balancing <<< "$BALANCING_TESTS"
  run_part "project venv, not vllm" "$PY" -m pytest -q -m "not full and not vllm" --durations=15 \
    "${balancing[@]/#/--ignore=}"
}

lane_2() {
  local failed=0
  local -a balancing; read -ra balancing <<< "$BALANCING_TESTS"
  # No pytest cache here: lane 1 writes .pytest_cache at the same time.
  run_part "vllm serve" "$PY" -m pytest -q -p no:cacheprovider -m "vllm and not full" --durations=10 || failed=1
  run_part "project venv, balancing" "$PY" -m pytest -q -p no:cacheprovider -m "not full and not vllm" \
    "${balancing[@]}" || failed=1
  run_part "full tier" "$FULL_PY" -m pytest -q -p no:cacheprovider -m full \
    tests/tools/backends/full tests/tools/test_tool_contract.py || failed=1
  run_part "full tier, recognition" "$FULL_PY" -m pytest -q -p no:cacheprovider -m full tests/tools/recognition || failed=1
  return $failed
}

start=$SECONDS
if [[ "$LANES" == "1" ]]; then
  lane_1; rc1=$?
  lane_2; rc2=$?
else
  log_dir="$(mktemp -d)"
  log="$log_dir/lane2.log"
  echo "run_tests.sh: lane 2 (vllm serve, the balancing tests, then the full tier) runs beside this one; its log: $log"
  # Its own process group (setsid), so that an interrupt stops its servers too.
  export -f lane_1 lane_2 run_part
  export PY FULL_PY BALANCING_TESTS
  setsid bash -c lane_2 > "$log" 2>&1 &
  lane_2_pid=$!
  # Lane 1 runs in the background too, so that an interrupt or a TERM is handled at once (a
  # trap waits for a foreground command) and stops both lanes.
  setsid bash -c lane_1 &
  lane_1_pid=$!
  trap 'kill -- -"$lane_1_pid" -"$lane_2_pid" 2>/dev/null; echo "run_tests.sh: interrupted" >&2; exit 130' INT TERM
  wait "$lane_1_pid"; rc1=$?
  wait "$lane_2_pid"; rc2=$?
  trap - INT TERM
  echo "======================== lane 2: vllm serve, balancing tests, full tier ========================"
  cat "$log"
fi

echo "run_tests.sh: lane 1 exited $rc1, lane 2 exited $rc2; $((SECONDS - start)) s in all"
[[ $rc1 == 0 && $rc2 == 0 ]]
