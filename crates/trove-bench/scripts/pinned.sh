#!/usr/bin/env bash
# Runs `trove-bench transfer` with the seeder on CPU 0 and the downloader on CPU 1, so each
# end has a core of its own and the downloader's cost per byte sets the rate (it holds its
# core at about 0.97): steadier than unpinned runs for comparing downloader changes. Give
# two binaries to alternate them run by run. Usage (from the repository root, after
# `cargo build --release -p trove-bench`; copy the binary aside to compare builds):
#
#   crates/trove-bench/scripts/pinned.sh [runs=5] [bench=target/release/trove-bench] [other-bench]
#
# Prints one line per run: binary, MiB/s, downloader cores, seeder cores. Needs two CPUs
# and `taskset`; as root the page cache is dropped before every run (docs/BENCHMARKS.md).
set -euo pipefail
runs=${1:-5}
benches=("${2:-target/release/trove-bench}")
if [ -n "${3:-}" ]; then benches+=("$3"); fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$runs"); do
  for bench in "${benches[@]}"; do
    if [ "$(id -u)" = 0 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
    taskset -c 0 "$bench" transfer --transport tcp > "$out" &
    parent=$!
    child=""
    # The downloader is the benchmark's child process: move it (all its threads) to CPU 1.
    for _ in $(seq 3000); do
      child=$(pgrep -P "$parent" -f transfer-child || true)
      if [ -n "$child" ]; then break; fi
      sleep 0.01
    done
    if [ -z "$child" ] || ! taskset -a -p -c 1 "$child" > /dev/null; then
      echo "could not pin the downloader of $bench" >&2
    fi
    wait "$parent"
    tail -1 "$out" | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
print(sys.argv[1], round(d["value"]), round(d["downloader_cpu_cores"], 2), round(d["seeders_cpu_cores"], 2))' "$bench"
  done
done
