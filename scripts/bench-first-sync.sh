#!/usr/bin/env bash
# A node's first sync into a fresh namespace: iptables-restore with
# --noflush (kube-proxy's way) against without (up's way), both backends.
#
#   sudo scripts/bench-first-sync.sh [SERVICES] [COUNT]   # default 1000 services, 3 runs
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
cd "$repo"
NLBSIM_BENCH_SERVICES=${1:-1000} go test -run '^$' -bench '^BenchmarkFirstSync$' -benchtime "${2:-3}x" -timeout 60m ./nat/
