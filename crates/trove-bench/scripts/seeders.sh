#!/usr/bin/env bash
# Compares downloads of 1 GiB from one seeder and from four, alternating the two so that
# both see the same machine noise, and prints the medians, the quartiles and how many pairs
# four seeders won. Usage (from the repository root, after
# `cargo build --release -p trove-bench`):
#
#   crates/trove-bench/scripts/seeders.sh [pairs=10] [tcp|quic=quic]
#
# As root the page cache is dropped before every run (see docs/BENCHMARKS.md); otherwise the
# runs read whatever the cache holds and vary more.
set -euo pipefail
pairs=${1:-10}
transport=${2:-quic}
bench=${BENCH:-target/release/trove-bench}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for _ in $(seq "$pairs"); do
  for seeders in 1 4; do
    if [ "$(id -u)" = 0 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
    line=$("$bench" transfer --transport "$transport" --seeders "$seeders" | tail -1)
    echo "$seeders $line" >> "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {1: [], 4: []}
for line in open(sys.argv[1]):
    seeders, record = line.split(" ", 1)
    d = json.loads(record)
    secs = d["seconds"]
    runs[int(seeders)].append((d["file_bytes"] / secs / 2**20,
                               (d["downloader_cpu_cores"] + d["seeders_cpu_cores"]) * secs * 2**30 / d["file_bytes"],
                               d["peers_used"]))
for s, r in runs.items():
    rate = [x[0] for x in r]
    q = statistics.quantiles(rate, n=4) if len(rate) > 1 else [rate[0]] * 3
    print(f"{s} seeder(s): median {q[1]:.0f} MiB/s, quartiles {q[0]:.0f}-{q[2]:.0f}, "
          f"{statistics.median(x[1] for x in r):.2f} core-seconds per GiB, peers used {sorted({x[2] for x in r})}")
won = sum(b[0] >= a[0] for a, b in zip(runs[1], runs[4]))
print(f"four seeders at least as fast as one in {won} of {len(runs[1])} pairs")
PY
