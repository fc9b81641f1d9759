#!/usr/bin/env bash
# Installs what nlbsim and its tests need on a fresh Debian or Ubuntu machine,
# builds nlbsim onto the PATH (/usr/local/bin), and is safe to run again.
# Used by the README's quick start, .ci/run (through scripts/test.sh) and the
# Vagrant VM.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
want_go=$(awk '/^go /{print $2}' "$repo/go.mod")

if [ "$(id -u)" -ne 0 ]; then
	echo "provision.sh installs packages and needs root: sudo $0" >&2
	exit 1
fi

packages=(iproute2 iptables nftables conntrack tcpdump curl dnsutils iputils-ping apache2-utils ca-certificates git procps)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Go: the one present if new enough, else the distribution's, which fetches
# the version go.mod names through the Go module proxy (GOTOOLCHAIN).
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
version_ok() { # go version output >= want_go
	local have
	have=$(go env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
	[ "$(printf '%s\n%s\n' "$want_go" "$have" | sort -V | head -1)" = "$want_go" ]
}
if ! command -v go >/dev/null || ! version_ok; then
	if ! command -v go >/dev/null; then
		echo "installing Go from the distribution"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
	fi
	export GOTOOLCHAIN="go$want_go"
	echo "using GOTOOLCHAIN=$GOTOOLCHAIN through the Go module proxy"
fi

cd "$repo"
go build -o /usr/local/bin/nlbsim ./cmd/nlbsim
echo "nlbsim built: $(command -v nlbsim) ($(nlbsim version))"
