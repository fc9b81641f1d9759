#!/usr/bin/env bash
# nlbsim bench at the sizes that matter: first-packet latency, full and
# incremental sync, rules and restore memory per proxy mode, with the ratio
# of each size's first-packet latency to the same mode's smallest size in
# the same run.
#
#   sudo scripts/bench-modes.sh [SIZES] [MODES] [SAMPLES]
#   defaults: 0,1000,5000,10000 iptables,nftables 5000
#
# Writes bench-modes.json, bench-modes.svg and bench-modes.png into
# $NLBSIM_BENCH_OUT (default: the current directory).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
sizes=${1:-0,1000,5000,10000}
modes=${2:-iptables,nftables}
samples=${3:-5000}
out=$(realpath "${NLBSIM_BENCH_OUT:-.}")
[ "$(id -u)" -eq 0 ] || { echo "needs root: sudo $0" >&2; exit 1; }
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
cd "$repo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/nlbsim" ./cmd/nlbsim
echo "== $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), $(iptables --version), $(nft --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== nlbsim bench --proxy-mode $modes --services $sizes -n $samples"
start=$(date +%s)
"$tmp/nlbsim" bench --proxy-mode "$modes" --services "$sizes" -n "$samples" -o json --plot "$out/bench-modes.svg" --plot "$out/bench-modes.png" >"$out/bench-modes.json"
echo "== took $(( $(date +%s) - start )) s; load average after $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out/bench-modes.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
base = {}
print(f"{'mode':9} {'services':>8} {'pod p50':>9} {'×':>6} {'pod p99':>9} {'NLB p50':>9} {'×':>6} {'NLB p99':>9} {'full sync':>10} {'incr sync':>10} {'rules':>7} {'RSS MiB':>8}")
for x in r:
    b = base.setdefault(x["proxyMode"], x)
    fp, bp = x["firstPacketMs"], b["firstPacketMs"]
    print(f"{x['proxyMode']:9} {x['services']:>8} {fp['fromPod']['p50']:>9.3f} {fp['fromPod']['p50']/bp['fromPod']['p50']:>6.2f}"
          f" {fp['fromPod']['p99']:>9.3f} {fp['fromNLB']['p50']:>9.3f} {fp['fromNLB']['p50']/bp['fromNLB']['p50']:>6.2f}"
          f" {fp['fromNLB']['p99']:>9.3f} {x['fullSyncMs']:>10.0f} {x['incrementalSyncMs']:>10.0f} {x['rules']:>7} {x['restoreMaxRSSMiB']:>8.1f}")
PY
echo "== $out/bench-modes.json, $out/bench-modes.svg, $out/bench-modes.png"
