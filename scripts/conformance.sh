#!/usr/bin/env bash
# The conformance suite: upstream kube-proxy run beside nlbsim on the same
# worlds — the fixed ones and 200 random ones — and compared:
#   conformance/           v1.30.14's iptables proxier, restore input by restore input, chain by chain;
#   conformance/nftables/  v1.33.13's nftables proxier over knftables' fake, transaction by
#                          transaction and table by table, object by object.
# Each is a Go module of its own (one module cannot hold both Kubernetes
# versions); nlbsim's writer (go test ./nat) makes the worlds once for both.
#
#   scripts/conformance.sh [go test flags…]
#   NLBSIM_CONFORMANCE_SEED=N NLBSIM_CONFORMANCE_RANDOM=1 scripts/conformance.sh   # one random world again
#
# The first run downloads the modules' dependencies through the Go module
# proxy and builds them (README says how long that takes).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
export GOTOOLCHAIN=auto
if [[ -z "${NLBSIM_CONFORMANCE_WORLDS:-}" ]]; then
	# (not named nlbsim-conformance-*: the modules remove such a directory they made themselves)
	worlds=$(mktemp -d /tmp/nlbsim-worlds.XXXXXX)
	trap 'rm -rf "$worlds"' EXIT
	export NLBSIM_CONFORMANCE_SEED="${NLBSIM_CONFORMANCE_SEED:-$((1 + $(date +%s%N) % 1000000000))}"
	echo "conformance: random worlds from seed $NLBSIM_CONFORMANCE_SEED (set NLBSIM_CONFORMANCE_SEED to reproduce)" >&2
	(cd "$repo" && NLBSIM_CONFORMANCE_OUT="$worlds" go test -count=1 -run '^TestWriteConformanceWorlds$' ./nat)
	export NLBSIM_CONFORMANCE_WORLDS="$worlds"
fi
for mod in conformance conformance/nftables; do
	echo "== $mod" >&2
	(cd "$repo/$mod" && go vet ./... && go test -count=1 "$@" ./...)
done
