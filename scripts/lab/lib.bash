# shellcheck shell=bash
# Shared by the lab scripts (sourced, not run): options, printing, claims
# that are checked, the capture in the background, and cleanup on exit.
#
# A script sets LAB (its short name), LAB_USAGE and LAB_DEFAULT_NAME, sources
# this file, calls lab_init "$@", then alternates step/say/show/check and
# ends with lab_finish, which exits 1 when a claim failed.

set -euo pipefail
export LC_ALL=C.UTF-8 # a '.' in $EPOCHREALTIME and numbers, whatever the user's locale

NLBSIM=${NLBSIM:-nlbsim} # the nlbsim binary; tests point it at their build
NAME=$LAB_DEFAULT_NAME
SCALE=1
KEEP=false
CAPTURE=""
FAILED=0
PASSED=0
LAB_TMP=""
LAB_PIDS=()
LAB_UP=false
if [ -t 1 ]; then
	B=$'\033[1m' C=$'\033[36m' G=$'\033[32m' R=$'\033[31m' Z=$'\033[0m'
else
	B="" C="" G="" R="" Z=""
fi

lab_usage() {
	cat <<EOF
usage: sudo $0 [--name NAME] [--time-scale F] [--capture FILE.pcap] [--keep]

$LAB_USAGE

  --name NAME        the cluster to build (default $LAB_DEFAULT_NAME); it is removed
                     first and at the end, so never name someone else's cluster
  --time-scale F     run the NLB's and kube-proxy's timers F times faster
                     (default 1: AWS's 10 s health-check interval)
  --capture FILE     where the capture goes (default: /vagrant/captures/$LAB.pcap
                     in the Vagrant VM, else a temporary file removed at the end)
  --keep             leave the cluster running at the end, to poke at it

Environment: NLBSIM names the nlbsim binary (default: nlbsim on the PATH).
Exits 0 when every claim held, 1 when one failed, 2 on bad usage.
EOF
}

lab_init() {
	while [ $# -gt 0 ]; do
		case $1 in
		--name) NAME=${2:?--name needs a value}; shift 2 ;;
		--name=*) NAME=${1#*=}; shift ;;
		--time-scale) SCALE=${2:?--time-scale needs a value}; shift 2 ;;
		--time-scale=*) SCALE=${1#*=}; shift ;;
		--capture) CAPTURE=${2:?--capture needs a value}; shift 2 ;;
		--capture=*) CAPTURE=${1#*=}; shift ;;
		--keep) KEEP=true; shift ;;
		-h | --help) lab_usage; exit 0 ;;
		*) echo "$0: unknown option $1" >&2; lab_usage >&2; exit 2 ;;
		esac
	done
	if ! [[ $SCALE =~ ^[0-9]+([.][0-9]+)?$ ]] || [ "$(awk -v f="$SCALE" 'BEGIN{print (f > 0)}')" != 1 ]; then
		echo "$0: --time-scale: $SCALE is not a positive number" >&2
		exit 2
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0 builds network namespaces and needs root: sudo $0" >&2
		exit 1
	fi
	command -v "$NLBSIM" >/dev/null || { echo "$0: $NLBSIM is not on the PATH (sudo scripts/provision.sh builds it)" >&2; exit 1; }
	command -v jq >/dev/null || { echo "$0: jq is missing (sudo scripts/provision.sh installs it)" >&2; exit 1; }
	LAB_TMP=$(mktemp -d "/tmp/nlbsim-$LAB.XXXXXX")
	chmod 755 "$LAB_TMP" # tcpdump writes there
	if [ -z "$CAPTURE" ]; then
		if [ -d /vagrant ]; then
			CAPTURE=/vagrant/captures/$LAB.pcap
		else
			CAPTURE=$LAB_TMP/$LAB.pcap
		fi
	fi
	mkdir -p "$(dirname "$CAPTURE")"
	trap lab_cleanup EXIT
	trap 'echo "$0: stopped by a failing command at line $LINENO" >&2' ERR
	trap 'exit 130' INT TERM
	printf '%s%s%s — cluster %s, time scale %s\n' "$B" "$LAB" "$Z" "$NAME" "$SCALE"
}

lab_cleanup() {
	local pid
	for pid in "${LAB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if $LAB_UP && ! $KEEP; then
		"$NLBSIM" down --name "$NAME" >/dev/null 2>&1 || echo "warning: nlbsim down --name $NAME failed" >&2
	elif $LAB_UP; then
		echo "cluster $NAME keeps running (--keep); remove it with: sudo nlbsim down --name $NAME"
	fi
	if [ -n "$LAB_TMP" ]; then
		rm -rf "$LAB_TMP"
	fi
}

# nl runs an nlbsim verb on this lab's cluster: nl get targets -o wide.
nl() {
	local verb=$1
	shift
	"$NLBSIM" "$verb" --name "$NAME" "$@"
}

# show prints a command as the learner would type it, runs it and prints
# its output indented. The output is also left in $OUT.
show() {
	local verb=$1
	shift
	printf '\n%s$ sudo nlbsim %s --name %s' "$C" "$verb" "$NAME"
	printf ' %q' "$@"
	printf '%s\n' "$Z"
	local rc=0
	OUT=$(nl "$verb" "$@") || rc=$?
	# shellcheck disable=SC2001
	sed 's/^/    /' <<<"$OUT"
	if [ "$rc" -ne 0 ]; then
		printf '    %s(exit status %d)%s\n' "$R" "$rc" "$Z"
	fi
	return "$rc"
}

# up builds the cluster (removing a leftover of the same name first, which
# is this lab's own), or changes it in place when LAB_UP is already true.
up() {
	if ! $LAB_UP; then
		"$NLBSIM" down --name "$NAME" >/dev/null
		LAB_UP=true
	fi
	show up --time-scale "$SCALE" "$@"
}

step() { printf '\n%s== %s%s\n' "$B" "$*" "$Z"; }

# say explains what to look at.
say() { printf '%s\n' "$@"; }

# check CLAIM COMMAND...: runs COMMAND; the claim holds when it succeeds.
check() {
	local claim=$1
	shift
	if "$@"; then
		PASSED=$((PASSED + 1))
		printf '  %s✔%s %s\n' "$G" "$Z" "$claim"
	else
		FAILED=$((FAILED + 1))
		printf '  %s✘ %s%s\n' "$R" "$claim" "$Z"
	fi
}

# The small predicates claims are made of.
contains() { grep -qE -- "$2" <<<"$1"; }
lacks() { ! grep -qE -- "$2" <<<"$1"; }
equal() { [ "$1" = "$2" ]; }
at_least() { [ "$1" -ge "$2" ]; }

# distinct TEXT PATTERN counts the distinct matches of PATTERN in TEXT; none
# is 0, not a failure (grep's exit code would stop the lab under pipefail).
distinct() { { grep -oE -- "$2" <<<"$1" || true; } | sort -u | wc -l; }

# seconds prints AWS's duration (in seconds) divided by the time scale.
seconds() { awk -v s="$1" -v f="$SCALE" 'BEGIN{printf "%.2f", s / f}'; }

# capture_start HOST FILE FILTER... starts tcpdump on HOST in the background,
# as the walkthrough did on node 2, and waits until it listens.
capture_start() {
	local host=$1 file=$2
	shift 2
	printf '\n%s$ sudo nlbsim exec --name %s %s -- tcpdump -i any -nn -w %s' "$C" "$NAME" "$host" "$file"
	printf ' %q' "$@"
	printf ' &%s\n' "$Z"
	rm -f "$file"
	# -Z root: Debian's tcpdump would otherwise switch to its own user and
	# chown the file to it, which a shared /vagrant may refuse.
	# --immediate-mode -U: each packet reaches the file as it comes;
	# otherwise the kernel hands packets over in blocks and those of the
	# last second are lost when tcpdump stops.
	# -s 2048: immediate mode sizes the ring's slots by the snapshot
	# length, and at the default (256 KiB) the 2 MiB ring holds 8 packets
	# and drops bursts; every packet of this lab fits in 2048 bytes.
	# A simple command in the background, so that $! is tcpdump itself
	# (nlbsim and ip netns exec exec it in their place).
	"$NLBSIM" exec --name "$NAME" "$host" -- tcpdump -i any -nn --immediate-mode -U -s 2048 -Z root -w "$file" "$@" 2>"$LAB_TMP/tcpdump.err" &
	LAB_PIDS+=($!)
	for _ in $(seq 50); do
		grep -q "listening on" "$LAB_TMP/tcpdump.err" && return 0
		sleep 0.1
	done
	cat "$LAB_TMP/tcpdump.err" >&2
	return 1
}

# capture_stop ends the capture started last.
capture_stop() {
	local pid=${LAB_PIDS[-1]}
	sleep 0.3 # the last FIN/ACKs
	# TERM, not INT: a background job of a script ignores SIGINT.
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset 'LAB_PIDS[-1]'
	grep -E "^[0-9]+ packets" "$LAB_TMP/tcpdump.err" | sed 's/^/    /' || true
}

# curls N times from the bastion to the NLB's DNS name, as the walkthrough
# did, and leaves "pod-IP peer-IP" per answer in ANSWERS, one a line ("failed
# failed" for a curl that got no answer), from the echo server's JSON.
curls() {
	local n=$1 dns
	dns=$(nl get svc nginx-nlb-service -o jsonpath='{.status.loadBalancer.ingress[0].hostname}')
	# shellcheck disable=SC2016 # the commands as the learner types them
	printf '\n%s$ NLB=$(nlbsim get svc nginx-nlb-service --name %s -o jsonpath={.status.loadBalancer.ingress[0].hostname})\n' "$C" "$NAME"
	# shellcheck disable=SC2016
	printf '$ for i in $(seq %s); do sudo nlbsim exec --name %s bastion -- curl -s $NLB:7777; done%s\n' "$n" "$NAME" "$Z"
	# shellcheck disable=SC2034 # read by the lab scripts
	ANSWERS=$(for _ in $(seq "$n"); do
		nl exec bastion -- curl -s --max-time 5 -H 'Accept: application/json' "$dns:7777" |
			jq -r '"\(.podIP) \(.peer | sub(":[0-9]+$"; ""))"' 2>/dev/null || echo "failed failed"
	done)
}

lab_finish() {
	echo
	if [ "$FAILED" -gt 0 ]; then
		printf '%s%s: %d of %d claims failed%s\n' "$R" "$LAB" "$FAILED" $((FAILED + PASSED)) "$Z"
		exit 1
	fi
	printf '%s%s: all %d claims held%s\n' "$G" "$LAB" "$PASSED" "$Z"
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds or
# SECONDS (already divided by the time scale, if it should be) have passed.
wait_for() {
	local deadline
	deadline=$(awk -v now="$EPOCHREALTIME" -v s="$1" 'BEGIN{printf "%.3f", now + s}')
	shift
	until "$@"; do
		if awk -v now="$EPOCHREALTIME" -v d="$deadline" 'BEGIN{exit !(now > d)}'; then
			return 1
		fi
		sleep 0.2
	done
}

# target_state IP prints a target's state as get targets -o json has it.
target_state() {
	nl get targets -o json | jq -r --arg id "$1" '.targetHealthDescriptions[] | select(.target.id == $id) | .targetHealth.state'
}
target_is() { [ "$(target_state "$1")" = "$2" ]; }
