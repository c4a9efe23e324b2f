#!/usr/bin/env bash
# Runs the codec benches (bench/benches/codecs.rs) for a person at a terminal: the build is
# shown, then one line per format and payload and a short summary; criterion's own output
# (a few hundred lines of "Benchmarking …", outliers and warnings) goes to a log file.
#
#   scripts/codecs.sh LOG [criterion args…]
set -euo pipefail
log="$1"
shift
cargo="${CARGO:-cargo}"
"$cargo" bench -p wirebench --bench codecs --no-run
mkdir -p "$(dirname "$log")"
started=$(date +%s)
# The bench marks its own progress lines with "codecs:"; everything goes to the log.
"$cargo" bench -q -p wirebench --bench codecs -- "$@" 2>&1 | tee "$log" | grep --line-buffered '^codecs:' || {
  echo "codec benches failed; criterion's output: $log" >&2
  exit 1
}
warnings=$(grep -c '^Warning' "$log" || true)
echo "codecs: finished in $(( $(date +%s) - started )) s; criterion's full output ($warnings warnings): $log"
