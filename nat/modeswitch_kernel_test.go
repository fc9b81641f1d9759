package nat

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

// scratchNetns makes a named network namespace for one test (nft- and
// the process id in its name) and returns a runner into it.
func scratchNetns(t *testing.T) RunInNamespace {
	t.Helper()
	requireKernel(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	name := fmt.Sprintf("nft-nat-%d-%s", os.Getpid(), regexp.MustCompile(`[^a-zA-Z0-9]`).ReplaceAllString(t.Name(), ""))
	if len(name) > 60 {
		name = name[:60]
	}
	out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return func(cmd *exec.Cmd) error {
		cmd.Args = append([]string{"ip", "netns", "exec", name}, cmd.Args...)
		cmd.Path = "/usr/bin/ip"
		if p, err := exec.LookPath("ip"); err == nil {
			cmd.Path = p
		}
		return cmd.Run()
	}
}

var kubeChain = regexp.MustCompile(`(?m)^:(KUBE-[A-Z0-9-]+) `)

// Switching a node from iptables to nftables mode and back, in a namespace
// of its own: upstream's cleanup leaves no kube-proxy rule that any packet
// reaches — only the chains CleanupLeftovers leaves (KUBE-MARK-MASQ with
// its rule, the empty KUBE-PROXY-FIREWALL and KUBE-PROXY-CANARY) and
// kubelet's — and the way back deletes the table.
func TestModeSwitchCleanupKernel(t *testing.T) {
	run := scratchNetns(t)
	b, err := DetectBackend()
	require.NoError(t, err)
	w := buildWorld(t, nil)
	rs, err := KubeProxy(w, "node-1")
	require.NoError(t, err)
	require.NoError(t, Apply(b, rs.RestoreText(), run))
	saved, err := Save(b, run)
	require.NoError(t, err)
	require.Contains(t, saved, "KUBE-SVC-")

	cleanup := IPTablesCleanupText(saved)
	require.NoError(t, Apply(b, cleanup, run), cleanup)
	saved, err = Save(b, run)
	require.NoError(t, err)
	var left []string
	for _, m := range kubeChain.FindAllStringSubmatch(saved, -1) {
		left = append(left, m[1])
	}
	sort.Strings(left)
	assert.Subset(t, []string{"KUBE-FIREWALL", "KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "KUBE-MARK-MASQ", "KUBE-PROXY-CANARY", "KUBE-PROXY-FIREWALL"}, left)
	for _, gone := range []string{"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-", "KUBE-FORWARD", "KUBE-EXTERNAL-SERVICES", "-j KUBE-MARK-MASQ", "-j KUBE-PROXY-FIREWALL"} {
		assert.NotContains(t, saved, gone)
	}
	assert.Empty(t, IPTablesCleanupText(saved), "a second cleanup has nothing to do")

	w.Spec.ProxyMode = topology.ProxyNFTables
	w, err = topology.Build(w.Spec)
	require.NoError(t, err)
	text, err := NFTablesText(w, "node-1")
	require.NoError(t, err)
	require.NoError(t, ApplyNFT(text, run))
	listed, err := ListNFT(run, "list", "table", "ip", NFTTable)
	require.NoError(t, err)
	assert.Contains(t, listed, "numgen random mod 3 vmap")

	require.NoError(t, CleanupNFT(run))
	require.NoError(t, CleanupNFT(run), "deleting a table that is gone is no error")
	ruleset, err := ListNFT(run, "list", "ruleset")
	require.NoError(t, err)
	assert.NotContains(t, ruleset, "table ip kube-proxy")

	// Back in iptables mode, the node carries what a node that was always
	// in iptables mode carries (the leftovers of the first cleanup aside).
	w.Spec.ProxyMode = topology.ProxyIPTables
	w, err = topology.Build(w.Spec)
	require.NoError(t, err)
	rs, err = KubeProxy(w, "node-1")
	require.NoError(t, err)
	require.NoError(t, Apply(b, rs.StartText(), run), rs.StartText())
	saved, err = Save(b, run)
	require.NoError(t, err)
	want := savedTablesOf(kernelSaved(t, b, rs.RestoreText(), "--noflush"))
	got := savedTablesOf(saved)
	for _, table := range []string{"filter", "nat", "mangle"} {
		assert.Equal(t, stripCounters(want[table]), stripCounters(got[table]), table)
	}
}

var (
	ruleCounters  = regexp.MustCompile(`(?m)^\[\d+:\d+\] `)
	chainCounters = regexp.MustCompile(`\[\d+:\d+\]`)
)

// stripCounters drops iptables-save -c's rule counters and zeroes the
// chains'.
func stripCounters(s string) string {
	return chainCounters.ReplaceAllString(ruleCounters.ReplaceAllString(s, ""), "[0:0]")
}
