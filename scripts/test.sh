#!/usr/bin/env bash
# Runs every test of nlbsim: pure, kernel (root) and end to end, after
# installing what they need. In CI (CI=true, as root) a kernel test that
# would skip fails instead.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/provision.sh"
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
cd "$repo"
go vet ./...
# Kernel tests build namespaces with fixed VPC addresses per cluster; one
# package at a time keeps the machine's two cores for them.
go test -count=1 -p 1 -timeout 15m ./...
if [ -d nat/ruleset ]; then
	go test -run='^$' -fuzz=FuzzParse -fuzztime=10s ./nat/ruleset/
fi
