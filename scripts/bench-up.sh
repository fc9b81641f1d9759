#!/usr/bin/env bash
# Times `nlbsim up` and `down` of a big world with this tree's binary and a
# baseline revision's, alternating in one run so that the machine's load
# touches both alike, and prints each run's ratio. Needs root.
# Usage: sudo scripts/bench-up.sh [RUNS] [BASE_REV] [UP FLAGS...]
#   defaults: 3 runs, base 3669b47 (before issue 16's scale work),
#   --nodes 50 --replicas 500 --time-scale 10
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
base=${2:-3669b47}
shift $(( $# < 2 ? $# : 2 ))
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(--nodes 50 --replicas 500 --time-scale 10)
[ "$(id -u)" -eq 0 ] || { echo "needs root: sudo $0" >&2; exit 1; }
export PATH="/usr/local/go/bin:$PATH"
cd "$repo"
tmp=$(mktemp -d)
name=bench-up
trap '"$tmp/new" down --name $name >/dev/null 2>&1; rm -rf "$tmp"' EXIT
git archive "$base" | tar -x -C "$tmp" --one-top-level=src
(cd "$tmp/src" && go build -o "$tmp/base" ./cmd/nlbsim)
go build -o "$tmp/new" ./cmd/nlbsim
"$tmp/new" down --name $name >/dev/null

ms() { date +%s%N; }
# one BIN: prints "up_ms down_ms"
one() {
	local t0 t1 t2
	t0=$(ms)
	"$tmp/$1" up --name $name "${flags[@]}" >/dev/null
	t1=$(ms)
	"$tmp/$1" down --name $name >/dev/null
	t2=$(ms)
	echo "$(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 ))"
}
echo "== up ${flags[*]}: $(git rev-parse --short HEAD) against $base ($runs runs, alternating; load $(cut -d' ' -f1-3 /proc/loadavg))"
for i in $(seq "$runs"); do
	if [ $((i % 2)) -eq 1 ]; then b=$(one base); n=$(one new); else n=$(one new); b=$(one base); fi
	read -r bu bd <<<"$b"; read -r nu nd <<<"$n"
	printf "run %d: up %6d ms (base %6d ms, ratio %.2f)  down %5d ms (base %5d ms)\n" \
		"$i" "$nu" "$bu" "$(echo "$nu/$bu" | bc -l)" "$nd" "$bd"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
