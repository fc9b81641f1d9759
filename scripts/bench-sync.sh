#!/usr/bin/env bash
# Measures how long an endpoint change takes to reach every node's rules
# (the last "RulesSynced" event after `nlbsim scale`), and how long the
# NLB's reprogramming takes ("NLBProgrammed"), for the default world and a
# 50-node world in each proxy mode. Changes are spaced more than
# minSyncPeriod (1 s) apart, so each sync may run at once, as kube-proxy's
# runner allows.
# Usage: sudo scripts/bench-sync.sh [CHANGES] [WORLDS]
#   WORLDS: a comma-separated list of default, 50, 50-nft (default: all)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
changes=${1:-5}
worlds=${2:-default,50,50-nft}
[ "$(id -u)" -eq 0 ] || { echo "needs root: sudo $0" >&2; exit 1; }
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"
go build -o /tmp/nlbsim-bench ./cmd/nlbsim
nlbsim=/tmp/nlbsim-bench
name=bench-sync
trap '$nlbsim down --name $name >/dev/null' EXIT

ms() { date +%s%3N; }
# event_ms REASON AFTER_MS: the times (ms since the epoch) of events after a moment
event_ms() {
	python3 - "$1" "$2" "/run/nlbsim/$name/events.jsonl" <<'PY'
import json, sys, datetime
reason, after, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for line in open(path):
    e = json.loads(line)
    t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
    ms = int(t.timestamp() * 1000)
    if e["reason"] == reason and ms >= after:
        print(ms, e["message"])
PY
}

for world in "default:" "50:--nodes 50 --replicas 50 --minimal" "50-nft:--nodes 50 --replicas 50 --minimal --proxy-mode nftables"; do
	label=${world%%:*}; flags=${world#*:}
	[[ ",$worlds," == *",$label,"* ]] || continue
	$nlbsim down --name $name >/dev/null
	# shellcheck disable=SC2086
	$nlbsim up --name $name $flags >/dev/null
	nodes=$($nlbsim get nodes --name $name -o name | wc -l)
	replicas=$($nlbsim get deploy nginx-deployment --name $name -o jsonpath='{.spec.replicas}')
	echo "== $label: $nodes nodes, endpoint change → rules on every node (minSyncPeriod 1 s)"
	for i in $(seq "$changes"); do
		sleep 1.2
		target=$((replicas + i % 2))
		t0=$(ms)
		$nlbsim scale --name $name deployment/nginx-deployment --replicas "$target" >/dev/null
		for _ in $(seq 200); do
			n=$(event_ms RulesSynced "$t0" | wc -l)
			[ "$n" -ge "$nodes" ] && break
			sleep 0.02
		done
		# the first round of syncs that reached every node (a scale-down
		# syncs again when the terminated pod is gone, with the same rules)
		last=$(event_ms RulesSynced "$t0" | sort -n | awk -v n="$nodes" 'NR == n {print $1}')
		nlb=$(event_ms NLBProgrammed "$t0" | awk 'NR == 1 {print $NF == "ms" ? $(NF-1) : "?"}')
		echo "change $i (→ $target replicas): rules on all $nodes nodes after $((last - t0)) ms; NLB reprogrammed in ${nlb:-?} ms"
	done
done
