package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
)

// rootSnapshot captures what nlbsim must never change in the host's root
// network namespace: links, addresses, routes of every table, rules,
// neighbours in the VPC range, the sysctls nlbsim sets elsewhere, every
// iptables table of both backends, and the nftables ruleset.
func rootSnapshot(t *testing.T) map[string]string {
	t.Helper()
	counters := regexp.MustCompile(`\[\d+:\d+\]|counter packets \d+ bytes \d+`)
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			var notFound *exec.Error
			if os.Getenv("CI") == "" && errors.As(err, &notFound) {
				t.Skipf("%s is not installed (scripts/provision.sh installs it)", name)
			}
			require.NoError(t, err, "%s %v: %s", name, args, out)
		}
		var keep []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "#") { // iptables-save's dated header
				continue
			}
			keep = append(keep, counters.ReplaceAllString(line, "[counters]"))
		}
		return strings.Join(keep, "\n")
	}
	s := map[string]string{
		"links":        run("ip", "-d", "link", "show"),
		"addresses":    run("ip", "addr", "show"),
		"routes v4":    run("ip", "-4", "route", "show", "table", "all"),
		"routes v6":    run("ip", "-6", "route", "show", "table", "all"),
		"rules v4":     run("ip", "-4", "rule", "show"),
		"rules v6":     run("ip", "-6", "rule", "show"),
		"neighbours":   run("ip", "neigh", "show", "to", "192.168.0.0/16"),
		"iptables nft": run("iptables-nft-save"),
		"iptables leg": run("iptables-legacy-save"),
		"nft ruleset":  run("nft", "list", "ruleset"),
	}
	for _, key := range sim.SysctlKeys() {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		require.NoError(t, err)
		s["sysctl "+key] = string(b)
	}
	return s
}

// A session of every verb leaves the root namespace exactly as it was.
func TestRootNamespaceUntouched(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	before := rootSnapshot(t)

	session := [][]string{
		{"up", "--name", name},
		{"up", "--name", name},
		{"exec", "--name", name, "bastion", "--", "curl", "-s", "--max-time", "5", "192.168.2.206:7777"},
		{"exec", "--name", name, "pod-1", "--", "curl", "-s", "--max-time", "5", "192.168.3.111:7777"},
		{"exec", "--name", name, "node-1", "--", "ip", "route"},
		{"version"},
		{"down", "--name", name},
		{"up", "--name", name, "--mode", "instance", "--nodes", "4", "--replicas", "5", "--external-traffic-policy", "Local"},
		{"exec", "--name", name, "bastion", "--", "curl", "-s", "--max-time", "5", "192.168.1.248:7777"},
		{"down", "--name", name},
		{"down", "--name", name},
	}
	for _, args := range session {
		r := nlbsim(t, args...)
		require.Equal(t, 0, r.code, "nlbsim %v: %s", args, r.stderr)
	}
	after := rootSnapshot(t)
	for k := range before {
		assert.Equal(t, before[k], after[k], fmt.Sprintf("root namespace %s changed", k))
	}
}
