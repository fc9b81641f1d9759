#!/usr/bin/env bash
# Installs what nlbsim and its tests need on a fresh Debian or Ubuntu machine,
# builds nlbsim onto the PATH (/usr/local/bin), and is safe to run again.
# Used by the README's quick start, .ci/run (through scripts/test.sh) and the
# Vagrant VM (Vagrantfile), where it runs as root on the repo at /vagrant.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
want_go=$(awk '/^go /{print $2}' "$repo/go.mod")

if [ "$(id -u)" -ne 0 ]; then
	echo "provision.sh installs packages and needs root: sudo $0" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh VM may still run apt at boot (cloud-init, unattended-upgrades):
# wait for its lock rather than fail.
apt_opts=(-o DPkg::Lock::Timeout=600 -qq)
apt_updated=false
apt_install() {
	if ! $apt_updated; then
		apt-get "${apt_opts[@]}" update
		apt_updated=true
	fi
	apt-get "${apt_opts[@]}" install -y "$@" >/dev/null
}

# jq: the lab scripts read nlbsim's JSON; graphviz: the diagram tests
# render `nlbsim graph -o dot` with dot (required in CI); time: GNU time,
# which `nlbsim bench` reads the restore's peak memory through.
packages=(iproute2 iptables nftables conntrack tcpdump curl dnsutils iputils-ping apache2-utils ca-certificates git procps jq graphviz time)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	apt_install "${missing[@]}"
fi

# Go: the one on the PATH if new enough. Else the version go.mod names,
# fetched through the Go module proxy as the module golang.org/toolchain (what
# GOTOOLCHAIN does) into /usr/local/go, by whatever go there is — the
# distribution's golang-go when there is none. Debian 12's is Go 1.19, which
# knows no GOTOOLCHAIN but can download a module.
export PATH="/usr/local/go/bin:/usr/lib/go/bin:$PATH"
go_version() { go env GOVERSION 2>/dev/null | sed 's/^go//'; }
at_least() { # at_least WANT HAVE
	[ -n "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]
}
if ! at_least "$want_go" "$(go_version)"; then
	if [ -e /usr/local/go ]; then
		# Someone's own, older Go: leave it alone, and let it fetch the
		# version go.mod names for each command (Debian's go.env says local).
		if ! at_least 1.21 "$(go_version)"; then
			echo "/usr/local/go holds Go $(go_version), too old to fetch Go $want_go: remove it and run $0 again" >&2
			exit 1
		fi
		export GOTOOLCHAIN=auto
		echo "/usr/local/go is Go $(go_version); using GOTOOLCHAIN=auto (Go $want_go through the Go module proxy)"
	else
		if ! command -v go >/dev/null; then
			echo "installing Go from the distribution, to fetch Go $want_go"
			apt_install golang-go
		fi
		module="golang.org/toolchain@v0.0.1-go$want_go.$(go env GOOS)-$(go env GOARCH)"
		echo "fetching Go $want_go through the Go module proxy ($module) with Go $(go_version)"
		dir=$(cd / && GO111MODULE=on GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$module" | jq -r '.Dir // empty')
		if [ -z "$dir" ] || [ ! -f "$dir/bin/go" ]; then
			echo "could not download $module" >&2
			exit 1
		fi
		rm -rf /usr/local/go.new
		cp -r "$dir" /usr/local/go.new
		# The module cache is read-only and module zips keep no file
		# modes: make it a normal GOROOT.
		chmod -R u+w,go-w,a+rX /usr/local/go.new
		chmod 0755 /usr/local/go.new/bin/* /usr/local/go.new/pkg/tool/*/*
		mv /usr/local/go.new /usr/local/go
		hash -r
		# Login shells (vagrant ssh) find it too.
		# shellcheck disable=SC2016 # written for the login shell to expand
		echo 'case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH="/usr/local/go/bin:$PATH" ;; esac' >/etc/profile.d/nlbsim-go.sh
	fi
fi

# go build stamps the commit with git, which refuses a repository another
# user owns (the VM's /vagrant belongs to vagrant; provisioning runs as root).
if [ -e "$repo/.git" ] && [ "$(stat -c %u "$repo")" != 0 ] &&
	! git config --system --get-all safe.directory 2>/dev/null | grep -qxF "$repo"; then
	git config --system --add safe.directory "$repo"
fi

cd "$repo"
go build -o /usr/local/bin/nlbsim ./cmd/nlbsim
echo "nlbsim built: /usr/local/bin/nlbsim ($(/usr/local/bin/nlbsim version)) with Go $(go_version)"
