#!/bin/sh
# Compares wirebench's user-space link with the kernel's netem on one profile (20 ms each way,
# 40 ms round trip, no rate limit): user-orders p50 for rest (two request waves) and graphql
# (one), measured once through netem on loopback and once through the emulator. Needs root and
# the sch_netem module; where either is missing it says so and exits 0 (optional check).
# Usage: scripts/netem-check.sh [path/to/wirebench]
set -eu
BIN=${1:-target/release/wirebench}
if [ "$(id -u)" != 0 ] || ! modprobe sch_netem 2>/dev/null; then
    echo "netem-check: skipped (needs root and the sch_netem module)"
    exit 0
fi
OUT=$(mktemp -d)
trap 'tc qdisc del dev lo root 2>/dev/null || true; rm -rf "$OUT"' EXIT
RUN="--protocols rest,graphql --operations user-orders --concurrency 1 --no-open-loop --repeat 3"
tc qdisc add dev lo root netem delay 20ms
"$BIN" run $RUN --network loopback --out "$OUT/netem" >/dev/null
tc qdisc del dev lo root
"$BIN" run $RUN --network rtt=40ms --out "$OUT/emulated" >/dev/null
python3 - "$OUT" <<'PY'
import json, sys
def p50(path):
    r = json.load(open(path))
    return {s["protocol"]: s["figures"]["p50_us"]["median"] for s in r["summaries"]}
a = p50(sys.argv[1] + "/netem/latest/results.json")
b = p50(sys.argv[1] + "/emulated/latest/results.json")
bad = False
for p in sorted(a):
    ratio = b[p] / a[p]
    print(f"netem-check: {p} user-orders p50 netem {a[p]/1e3:.2f} ms, emulated {b[p]/1e3:.2f} ms ({ratio:.3f}x)")
    bad |= abs(ratio - 1) > 0.05
sys.exit(1 if bad else 0)
PY
