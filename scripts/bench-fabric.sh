#!/usr/bin/env bash
# Benchmarks the fabric phase (namespaces, veths, addresses, routes, sysctls)
# through netlink against an ip(8) script building the same objects, one
# `ip -n NS …` command per object, in the same run; then `nlbsim up` of the
# default world against the hand-written script of the same world (that ip
# script plus one iptables-restore per node, NLB node and the VPC), the two
# alternating; then down and the supervisor's memory. Needs root.
# Usage: sudo scripts/bench-fabric.sh [RUNS] [FABRIC]
#   FABRIC=0 skips the first part (the 50x10 ip script takes minutes a run)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
fabric=${2:-1}
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"

if [ "$fabric" != 0 ]; then
	echo "== fabric: netlink vs ip script ($runs runs each)"
	go test -run '^$' -bench BenchmarkFabric -benchtime "${runs}x" ./sim/internal/fabric/ | tee /tmp/nlbsim-bench-fabric.txt
	awk '/^BenchmarkFabric/ { split($1, p, "/"); t[p[2] "/" p[3]] = $3 }
	     END { for (s in t) if (s ~ /netlink/) { size = s; sub(/\/netlink.*/, "", size)
	             for (b in t) if (b ~ "^" size "/ip-script") printf "%-8s netlink %8.1f ms  ip script %9.1f ms  ratio %.1fx\n",
	               size, t[s]/1e6, t[b]/1e6, t[b]/t[s] } }' /tmp/nlbsim-bench-fabric.txt
fi

echo "== up of the default world (--time-scale 1000) against the hand-written script ($runs runs, alternating)"
go build -o /tmp/nlbsim-bench ./cmd/nlbsim
go test -c -o /tmp/nlbsim-bench-fabric.test ./sim/internal/fabric/
name=bench-updown
/tmp/nlbsim-bench down --name "$name" >/dev/null
hand() { /tmp/nlbsim-bench-fabric.test -test.run '^$' -test.bench BenchmarkHandScript -test.benchtime 1x | awk '/^BenchmarkHandScript/ { printf "%.1f", $3 / 1e6 }'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
	h=$(hand)
	t0=$(date +%s%N)
	/tmp/nlbsim-bench up --name "$name" --time-scale 1000 >/dev/null
	t1=$(date +%s%N)
	pid=$(cat "/run/nlbsim/$name/supervisor.pid")
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	/tmp/nlbsim-bench down --name "$name" >/dev/null
	t2=$(date +%s%N)
	up=$(echo "($t1-$t0)/1000000" | bc -l)
	printf "up %6.1f ms  hand script %6.1f ms  ratio %.2f  down %6.1f ms  supervisor RSS %d KiB\n" \
		"$up" "$h" "$(echo "$up/$h" | bc -l)" "$(echo "($t2-$t1)/1000000" | bc -l)" "$rss"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
