#!/usr/bin/env bash
# Benchmarks parse and explain (issue 6) on the iptables-save dump of one
# node with 5,000 ClusterIP Services × 10 endpoints (about 155,000 rules)
# against `iptables-restore --test` of the same dump, both backends, in the
# same run. Runs BenchmarkParseAndExplainSaved (nat/bench_test.go) inside a
# network namespace of its own: the host's is never touched.
# Usage: sudo scripts/bench-explain.sh [RUNS]   (default 5)
set -euo pipefail
usage() { echo "usage: sudo $0 [RUNS]" >&2; exit 2; }
[ $# -le 1 ] || usage
runs=${1:-5}
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage
if [ "$(id -u)" -ne 0 ]; then
	echo "$0: needs root (network namespaces, iptables-restore, iptables-save)" >&2
	exit 1
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"
work=$(mktemp -d /tmp/nlbsim-bench-explain.XXXXXX)
trap 'rm -rf "$work"' EXIT

go test -c -o "$work/nat.test" ./nat/
echo "== parse and explain, 5,000 services × 10 endpoints ($runs runs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
unshare --net -- "$work/nat.test" -test.run '^$' -test.bench '^BenchmarkParseAndExplainSaved$' \
	-test.benchtime "${runs}x" -test.benchmem -test.timeout 0 -test.v | tee "$work/out.txt"

echo "== summary (medians of $runs runs)"
awk '/^BenchmarkParseAndExplainSaved/ && NF > 3 {
	for (i = 3; i < NF; i++) m[$(i + 1)] = $i
	printf "nlbsim parse + explain         %5.0f ms, CPU %5.0f ms (parse %.0f + walk %.0f ms)   peak RSS %.0f MiB (%.0f MiB above the process before)\n",
		m["explain-ms"], m["explain-cpu-ms"], m["parse-ms"], m["walk-ms"], m["peak-RSS-MiB"], m["peak-above-MiB"]
	printf "iptables-nft-restore --test    %5.0f ms, CPU %5.0f ms   %.2fx nlbsim (CPU %.2fx)   peak RSS %.0f MiB\n",
		m["nft-test-ms"], m["nft-test-cpu-ms"], m["nft-test/explain"], m["nft-test/explain-cpu"], m["nft-test-RSS-MiB"]
	printf "iptables-legacy-restore --test %5.0f ms, CPU %5.0f ms   %.2fx nlbsim (CPU %.2fx)   peak RSS %.0f MiB\n",
		m["legacy-test-ms"], m["legacy-test-cpu-ms"], m["legacy-test/explain"], m["legacy-test/explain-cpu"], m["legacy-test-RSS-MiB"]
	printf "(a child peak RSS is never below this process RSS when it started: %.0f MiB at most)\n", m["RSS-floor-MiB"]
	print "(target: nlbsim faster than iptables-restore --test, i.e. both factors > 1)"
}' "$work/out.txt"
echo "(load average after $(cut -d' ' -f1-3 /proc/loadavg))"
