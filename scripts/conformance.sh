#!/usr/bin/env bash
# The conformance suite: upstream kube-proxy v1.30.14's iptables proxier
# (k8s.io/kubernetes, in conformance/, a Go module of its own) run beside
# nlbsim on the same worlds — the fixed ones and 200 random ones — and
# compared restore input by restore input, chain by chain.
#
#   scripts/conformance.sh [go test flags…]
#   NLBSIM_CONFORMANCE_SEED=N NLBSIM_CONFORMANCE_RANDOM=1 scripts/conformance.sh   # one random world again
#
# The first run downloads the module's dependencies through the Go module
# proxy and builds them (README says how long that takes).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
export GOTOOLCHAIN=auto
cd "$repo/conformance"
go vet ./...
go test -count=1 "$@" ./...
