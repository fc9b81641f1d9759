#!/usr/bin/env bash
# Runs every test of nlbsim: pure, kernel (root) and end to end, after
# installing what they need. In CI (CI=true, as root) a kernel test that
# would skip fails instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# phase NAME prints the seconds since the run began as NAME starts, so
# that a CI log shows where the run's minutes go.
phase() {
	printf '== [%4d s] %s\n' "$SECONDS" "$1"
}
phase provision
"$repo/scripts/provision.sh"
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
# An older Go (see provision.sh) fetches the version go.mod names.
export GOTOOLCHAIN=auto
cd "$repo"
# The conformance modules' first build (k8s.io/kubernetes twice: minutes on
# a clean machine) runs in the background beside the static checks and
# Chromium's install; the kernel tests wait for it, so they never share the
# cores with it.
phase "conformance build (background)"
conformance_log=$(mktemp)
(for mod in conformance conformance/nftables; do (cd "$repo/$mod" && go vet ./...) || exit 1; done) >"$conformance_log" 2>&1 &
conformance_build=$!
phase "vet, staticcheck, deadcode"
go vet ./...
# staticcheck and deadcode, through the Go toolchain: no findings but the
# annotated ones, and no code that nothing reaches.
gobin=$(go env GOPATH)/bin
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
go install golang.org/x/tools/cmd/deadcode@v0.52.0
"$gobin/staticcheck" ./...
dead=$("$gobin/deadcode" -test ./...)
if [ -n "$dead" ]; then
	printf 'deadcode: unreachable functions:\n%s\n' "$dead" >&2
	exit 1
fi
if command -v ruby >/dev/null; then
	ruby -c Vagrantfile >/dev/null
fi
if command -v shellcheck >/dev/null; then
	shellcheck -x scripts/provision.sh scripts/test.sh scripts/conformance.sh scripts/lab/*.sh scripts/lab/lib.bash
fi
# The UI's browser test (ui/browser_test.go) drives headless Chromium: a
# test dependency, installed here rather than by provision.sh.
phase "chromium"
if ! command -v chromium >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }
fi
# Kernel tests build namespaces with fixed VPC addresses per cluster; one
# package at a time keeps the machine's two cores for them. The live world
# (the supervisor in process: the living cluster, the NLB, DNS, traffic)
# runs under the race detector; cmd's tests include a -race build of the
# CLI under chaos.
phase "waiting for the conformance build"
if ! wait "$conformance_build"; then
	cat "$conformance_log" >&2
	exit 1
fi
rm -f "$conformance_log"
phase "sim under -race"
go test -race -count=1 -p 1 -timeout 15m ./sim/...
# The big worlds (sim/bigworld_test.go: 2,000 Services in each mode) build
# without the race detector, which would make their rules take minutes.
phase "big worlds"
go test -count=1 -timeout 15m -run '^TestBigWorld' ./sim
phase "the other packages"
# shellcheck disable=SC2046 # one argument per package
go test -count=1 -p 1 -timeout 15m $(go list ./... | grep -v '/nlbsim/sim')
# Conformance: upstream kube-proxy's iptables proxier (v1.30) and nftables
# proxier (v1.33) beside nlbsim on the same worlds, restore input by restore
# input and nft transaction by transaction (conformance/ and
# conformance/nftables/, modules of their own; the first run downloads and
# builds k8s.io/kubernetes twice).
phase conformance
"$repo/scripts/conformance.sh"
phase fuzz
if [ -d nat/ruleset ]; then
	go test -run='^$' -fuzz=FuzzParse -fuzztime=10s ./nat/ruleset/
fi
# The lab (docs/LAB.md): every experiment end to end with the nlbsim that
# provision.sh built, each on a cluster of its own, timers 10 times faster;
# a script exits non-zero when one of its claims fails.
phase labs
for lab in scripts/lab/*.sh; do
	name=ci-$(basename "$lab" .sh)
	echo "== $lab --name ${name:0:20} --time-scale 10"
	"$lab" --name "${name:0:20}" --time-scale 10
done
phase done
