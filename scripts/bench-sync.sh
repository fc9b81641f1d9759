#!/usr/bin/env bash
# Measures how long an endpoint change takes to reach every node's rules
# (the last "RulesSynced" event after `nlbsim scale`), and how long the
# NLB's reprogramming takes ("NLBProgrammed"), for the default world and a
# 50-node world in each proxy mode. Changes are spaced more than
# minSyncPeriod (1 s) apart, so each sync may run at once, as kube-proxy's
# runner allows.
# Each line also says when the round of syncs began (its nodes' events give
# their durations), how long it took from then to the last node, and the
# CPU time the supervisor and its children (iptables-restore, nft) used
# meanwhile: on a machine with fewer cores than nodes, that over the cores
# bounds the round from below.
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
# cpu_ms PID: CPU time of a process and its waited-for children, in ms
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print int(($12 + $13 + $14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }
# event_ms REASON AFTER_MS: the times (ms since the epoch) of events after a
# moment, each with the duration its message gives ("in N ms") and the message
event_ms() {
	python3 - "$1" "$2" "/run/nlbsim/$name/events.jsonl" <<'PY'
import json, re, sys, datetime
reason, after, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for line in open(path):
    e = json.loads(line)
    t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
    ms = int(t.timestamp() * 1000)
    took = re.search(r" in (\d+) ms", e["message"])
    if e["reason"] == reason and ms >= after:
        print(ms, took.group(1) if took else "?", e["message"])
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
		pid=$(cat "/run/nlbsim/$name/supervisor.pid")
		c0=$(cpu_ms "$pid")
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
		# when that round began: each event says how long its node's sync took
		began=$(event_ms RulesSynced "$t0" | sort -n | awk -v n="$nodes" 'NR <= n {s = $1 - $2; if (NR == 1 || s < m) m = s} END {printf "%.0f\n", m}')
		nlb=$(event_ms NLBProgrammed "$t0" | awk 'NR == 1 {print $2}')
		cpu=$(( $(cpu_ms "$pid") - c0 ))
		echo "change $i (→ $target replicas): rules on all $nodes nodes after $((last - t0)) ms (the round began at $((began - t0)) ms and took $((last - began)) ms); NLB reprogrammed in ${nlb:-?} ms; supervisor and its children used $cpu ms of CPU"
	done
done
