#!/usr/bin/env bash
# kube-proxy's nftables mode at 5,000 Services × 10 endpoints on one node
# (issue 19): nlbsim's full sync (generate with knftables + nft -f) against a
# bare nft -f of the same text, and a partial sync after one endpoint
# change, end to end. Each run uses fresh scratch namespaces.
# Usage: sudo scripts/bench-nft.sh [RUNS]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
[ "$(id -u)" -eq 0 ] || { echo "needs root: sudo $0" >&2; exit 1; }
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
cd "$repo"
go test -run '^$' -bench '^BenchmarkNFTablesSync$' -benchtime "${runs}x" -timeout 30m -v ./nat/
