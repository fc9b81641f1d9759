#!/usr/bin/env bash
# Benchmarks the fabric phase (namespaces, veths, addresses, routes, sysctls)
# through netlink against an ip(8) script building the same objects, one
# `ip -n NS …` command per object, in the same run; then the full up and
# down of the default world and the supervisor's memory. Needs root.
# Usage: sudo scripts/bench-fabric.sh [RUNS]   (the 50x10 script takes minutes a run)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"

echo "== fabric: netlink vs ip script ($runs runs each)"
go test -run '^$' -bench BenchmarkFabric -benchtime "${runs}x" ./sim/ | tee /tmp/nlbsim-bench-fabric.txt
awk '/^BenchmarkFabric/ { split($1, p, "/"); t[p[2] "/" p[3]] = $3 }
     END { for (s in t) if (s ~ /netlink/) { size = s; sub(/\/netlink.*/, "", size)
             for (b in t) if (b ~ "^" size "/ip-script") printf "%-8s netlink %8.1f ms  ip script %9.1f ms  ratio %.1fx\n",
               size, t[s]/1e6, t[b]/1e6, t[b]/t[s] } }' /tmp/nlbsim-bench-fabric.txt

echo "== full up + down of the default world ($runs runs)"
go build -o /tmp/nlbsim-bench ./cmd/nlbsim
name=bench-updown
/tmp/nlbsim-bench down --name "$name" >/dev/null
for i in $(seq "$runs"); do
	t0=$(date +%s%N)
	/tmp/nlbsim-bench up --name "$name" >/dev/null
	t1=$(date +%s%N)
	pid=$(cat "/run/nlbsim/$name/supervisor.pid")
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	/tmp/nlbsim-bench down --name "$name" >/dev/null
	t2=$(date +%s%N)
	printf "up %6.1f ms  down %6.1f ms  up+down %6.1f ms  supervisor RSS %d KiB\n" \
		"$(echo "($t1-$t0)/1000000" | bc -l)" "$(echo "($t2-$t1)/1000000" | bc -l)" "$(echo "($t2-$t0)/1000000" | bc -l)" "$rss"
done
