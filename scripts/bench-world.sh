#!/usr/bin/env bash
# Times `nlbsim up` and `down` of big worlds with this tree's binary and
# records what the kernel's neighbour table did meanwhile (entries made
# permanent or dynamic, refusals counted in table_fulls): the 50-node ×
# 10-pod world at --time-scale 100 against the same at --time-scale 10,
# alternating, then 200 nodes × 2,000 pods in /20 subnets once. Needs root.
# Usage: sudo scripts/bench-world.sh [RUNS] [BIG UP FLAGS...]
#   defaults: 3 runs; --nodes 200 --replicas 2000 --subnet-prefix-length 20 --time-scale 10
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
shift $(( $# < 1 ? $# : 1 ))
big=("$@")
[ ${#big[@]} -gt 0 ] || big=(--nodes 200 --replicas 2000 --subnet-prefix-length 20 --time-scale 10)
[ "$(id -u)" -eq 0 ] || { echo "needs root: sudo $0" >&2; exit 1; }
export PATH="/usr/local/go/bin:$PATH"
tmp=$(mktemp -d)
name=bench-world
trap '"$tmp/nlbsim" down --name $name >/dev/null 2>&1; rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/nlbsim" ./cmd/nlbsim)
"$tmp/nlbsim" down --name $name >/dev/null

ms() { date +%s%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# table_fulls summed over CPUs (/proc/net/stat/arp_cache, hexadecimal).
fulls() { python3 -c 'l=open("/proc/net/stat/arp_cache").read().split("\n"); c=l[0].split().index("table_fulls"); print(sum(int(r.split()[c],16) for r in l[1:] if r.strip()))'; }
# neighbours: "permanent dynamic" entries over the cluster's namespaces.
neighbours() {
	local p=0 d=0 ns
	for ns in $(ip netns list | awk -v pre="nlbsim.$name." 'index($1, pre) == 1 { print $1 }'); do
		while read -r line; do
			case "$line" in *PERMANENT) p=$((p + 1)) ;; *NOARP*|"") ;; *) d=$((d + 1)) ;; esac
		done < <(ip -n "$ns" -4 neigh show nud all)
	done
	echo "$p $d"
}
# one FLAGS...: prints "rc up_ms down_ms fulls_delta permanent dynamic"
one() {
	local t0 t1 t2 t3 f0 f1 rc=0 n
	f0=$(fulls)
	t0=$(ms)
	"$tmp/nlbsim" up --name $name "$@" >"$tmp/up.out" 2>&1 || rc=$?
	t1=$(ms)
	f1=$(fulls)
	n=$(neighbours)
	t2=$(ms)
	"$tmp/nlbsim" down --name $name >/dev/null
	t3=$(ms)
	echo "$rc $(( (t1 - t0) / 1000000 )) $(( (t3 - t2) / 1000000 )) $(( f1 - f0 )) $n"
}
report() { # label result
	read -r rc up down fd p d <<<"$2"
	printf "%-14s exit %d  up %6d ms  down %5d ms  table_fulls +%d  neighbours %d permanent, %d dynamic  (load %s)\n" \
		"$1" "$rc" "$up" "$down" "$fd" "$p" "$d" "$(load)"
	[ "$rc" -eq 0 ] || cut -c1-400 "$tmp/up.out" | tail -1
}
small=(--nodes 50 --replicas 500)
echo "== $(cd "$repo" && git rev-parse --short HEAD): up ${small[*]} at --time-scale 100 and 10, $runs runs alternating (load $(load))"
for i in $(seq "$runs"); do
	for s in $( [ $((i % 2)) -eq 1 ] && echo "100 10" || echo "10 100"); do
		report "run $i ts $s" "$(one "${small[@]}" --time-scale "$s")"
	done
done
echo "== up ${big[*]} (load $(load))"
report "big" "$(one "${big[@]}")"
t0=$(ms)
"$tmp/nlbsim" down --name $name >/dev/null
echo "second down: $(( ($(ms) - t0) / 1000000 )) ms, exit 0"
echo "load after: $(load)"
