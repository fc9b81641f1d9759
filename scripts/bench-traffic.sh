#!/usr/bin/env bash
# Benchmarks `nlbsim traffic` against ab (apache2-utils, no keep-alive) on
# the same NLB address with the same cross-zone setting, in the same run,
# alternating the two; then the peak memory of traffic and trace at 10,000
# requests. Needs root. Usage: sudo scripts/bench-traffic.sh [RUNS] [REQUESTS]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
n=${2:-10000}
[ "$(id -u)" -eq 0 ] || { echo "needs root: sudo $0" >&2; exit 1; }
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"
go build -o /tmp/nlbsim-bench ./cmd/nlbsim
nlbsim=/tmp/nlbsim-bench
name=bench-traffic
addr=192.168.2.149:7777 # nlb-b; cross-zone off: its flows stay in AZ b
$nlbsim down --name $name >/dev/null
trap '$nlbsim down --name $name >/dev/null' EXIT
$nlbsim up --name $name --time-scale 1 >/dev/null

now() { date +%s%N; }
echo "== $n requests, 8 at a time, new connections, bastion → $addr ($runs runs, alternating)"
printf "%-6s %12s %12s %8s\n" run "nlbsim rps" "ab rps" ratio
for i in $(seq "$runs"); do
	t0=$(now)
	out=$($nlbsim traffic --name $name -n "$n" -c 8 --to $addr -o json)
	t1=$(now)
	errors=$(printf '%s' "$out" | sed -n 's/^  "errors": \([0-9]*\),/\1/p')
	nlbsim_rps=$(echo "$n * 1000000000 / ($t1 - $t0)" | bc -l)
	ab_out=$($nlbsim exec --name $name bastion -- ab -q -n "$n" -c 8 "http://$addr/" 2>&1)
	ab_rps=$(printf '%s\n' "$ab_out" | awk '/Requests per second/ {print $4}')
	ab_failed=$(printf '%s\n' "$ab_out" | awk '/^Failed requests/ {print $3}')
	ab_exceptions=$(printf '%s\n' "$ab_out" | awk '/Exceptions:/ {print $2}' | head -1)
	printf "%-6s %12.0f %12.0f %8.2f   (nlbsim errors: %s; ab failed: %s — ab counts replies of another length as failed, and the echo reply's length varies with pod name and port)\n" \
		"$i" "$nlbsim_rps" "$ab_rps" "$(echo "$nlbsim_rps / $ab_rps" | bc -l)" "$errors" "$ab_failed"
done

echo "== peak memory at $n requests (GNU time, max resident set)"
for verb in traffic trace; do
	count=$n
	/usr/bin/time -f "$verb: %M KiB max RSS, %e s" $nlbsim $verb --name $name -n "$count" --to $addr -o json >/dev/null
done
