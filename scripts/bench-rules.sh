#!/usr/bin/env bash
# Benchmarks loading one node's kube-proxy rules (issue 4, issue 16): 5,000
# ClusterIP Services × 10 endpoints, nlbsim's path against a bare
# iptables-restore of the same text with the same flags, each run into fresh
# scratch namespaces: "legacy" and "nf_tables" as up loads a node (generate,
# then nat.Install: streamed, no --noflush), "legacy-noflush" and
# "nf_tables-noflush" as kube-proxy's first sync sends it (RestoreText, one
# `iptables-restore --noflush` through nat.Apply); then generation alone,
# with its peak memory. Runs BenchmarkKubeProxySync (nat/sync_bench_test.go)
# inside a network namespace of its own: the host's is never touched.
# RUNS counts all but nf_tables-noflush, NFT_RUNS that one:
# iptables-nft-restore --noflush of this ruleset takes about 16 minutes of
# CPU here (iptables 1.8.9), so each such run takes half an hour or more.
# Usage: sudo scripts/bench-rules.sh [RUNS [NFT_RUNS]]   (default 5 and 0)
set -euo pipefail
usage() { echo "usage: sudo $0 [RUNS [NFT_RUNS]]" >&2; exit 2; }
[ $# -le 2 ] || usage
runs=${1:-5} nft_runs=${2:-0}
[[ $runs =~ ^[1-9][0-9]*$ && $nft_runs =~ ^[0-9]+$ ]] || usage
if [ "$(id -u)" -ne 0 ]; then
	echo "$0: needs root (network namespaces, iptables-restore)" >&2
	exit 1
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"
work=$(mktemp -d /tmp/nlbsim-bench-rules.XXXXXX)
trap 'rm -rf "$work"' EXIT

go test -c -o "$work/nat.test" ./nat/
bench() { # SUB-BENCHMARKS RUNS
	echo "== kube-proxy sync, 5,000 services × 10 endpoints: $1, $2 runs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	unshare --net -- "$work/nat.test" -test.run '^$' -test.bench "^BenchmarkKubeProxySync\$/^($1)\$" \
		-test.benchtime "${2}x" -test.benchmem -test.timeout 0 -test.v | tee -a "$work/out.txt"
}
bench 'generate|legacy|nf_tables|legacy-noflush' "$runs"
[ "$nft_runs" -eq 0 ] || bench nf_tables-noflush "$nft_runs"

echo "== summary (medians)"
awk '/^BenchmarkKubeProxySync\// && NF > 3 {
	split($1, name, "/"); sub(/-[0-9]+$/, "", name[2])
	for (i = 3; i < NF; i++) m[$(i + 1)] = $i
	if (name[2] == "generate")
		printf "generate: %.0f ms (CPU %.0f ms); peak RSS %.0f MiB, %.0f MiB above the process before; %.0f MiB allocated, %d allocations\n",
			m["gen-ms"], m["gen-cpu-ms"], m["peak-RSS-MiB"], m["peak-above-MiB"], m["B/op"] / 1048576, m["allocs/op"]
	else
		printf "%-17s  bare iptables-restore %.0f ms (CPU %.0f)   nlbsim %.0f ms (CPU %.0f; generate %.0f + apply %.0f)   ratio %.3f, CPU %.3f (target <= 1.1)   iptables-restore peak RSS %.0f MiB (floor %.0f)\n",
			name[2], m["bare-ms"], m["bare-cpu-ms"], m["nlbsim-ms"], m["nlbsim-cpu-ms"], m["gen-ms"], m["apply-ms"], m["ratio"], m["cpu-ratio"], m["restore-RSS-MiB"], m["RSS-floor-MiB"]
	delete m
}' "$work/out.txt"
echo "(load average after $(cut -d' ' -f1-3 /proc/loadavg))"
