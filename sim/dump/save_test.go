package dump_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/dump"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

func readSaved(t *testing.T, dir string, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{dir}, parts...)...))
	require.NoError(t, err)
	return string(b)
}

// save writes a folder per host with the kernel's view of it, the state
// files and a summary; a namespace deleted behind nlbsim's back is named as
// a problem and the rest is still saved.
func TestSaveBundle(t *testing.T) {
	c := simtest.Up(t, simtest.Minimal())
	ctx := context.Background()
	name := c.World.Cluster.Name
	// A connection through the NLB leaves its flow in nlb-a's conntrack.
	_, err := c.Get(ctx, "bastion", "http://192.168.1.51:7777/")
	require.NoError(t, err)

	dir := t.TempDir()
	r, err := dump.Save(ctx, name, dir, sim.Backend)
	require.NoError(t, err)
	assert.Empty(t, r.Problems)
	assert.True(t, r.SupervisorAlive)
	hosts := c.World.Hosts()
	assert.Equal(t, len(hosts), r.Hosts)
	for _, h := range hosts {
		for _, f := range []string{"iptables-save.txt", "conntrack.txt", "ip-addr.txt", "ip-link.txt", "ip-route.txt", "ip-rule.txt", "ip-neigh.txt", "sysctl.txt", "etc-hosts", "etc-resolv.conf"} {
			info, err := os.Stat(filepath.Join(dir, h.Name, f))
			if assert.NoError(t, err, "%s/%s", h.Name, f) {
				assert.Positive(t, info.Size(), "%s/%s is empty", h.Name, f)
			}
		}
	}
	for _, f := range []string{"world.json", "targets.json", "supervisor.pid", "summary.txt"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}

	assert.Regexp(t, regexp.MustCompile(`(?m)^tcp +6 \d+ \w+ src=192\.168\.1\.100 dst=192\.168\.1\.51 sport=\d+ dport=7777 src=192\.168\.1\.248 dst=192\.168\.1\.51 `),
		readSaved(t, dir, "nlb-a", "conntrack.txt"), "the NLB's DNAT, as conntrack -L shows it")
	assert.Regexp(t, regexp.MustCompile(`(?m)^\[\d+:\d+\] -A KUBE-SERVICES `), readSaved(t, dir, "node-1", "iptables-save.txt"), "rules with counters")
	assert.Contains(t, readSaved(t, dir, "node-1", "sysctl.txt"), "net.ipv4.ip_forward = 1\n")
	assert.Contains(t, readSaved(t, dir, "bastion", "sysctl.txt"), "net.ipv4.ip_forward = 0\n")
	assert.Regexp(t, `net\.ipv4\.conf\.eth0\.rp_filter = \d`, readSaved(t, dir, "node-1", "sysctl.txt"))
	assert.Contains(t, readSaved(t, dir, "node-1", "ip-route.txt"), "192.168.1.248 dev eni")
	assert.Contains(t, readSaved(t, dir, "node-1", "ip-addr.txt"), "inet 192.168.1.118/32")
	assert.Contains(t, readSaved(t, dir, "vpc", "ip-rule.txt"), "fwmark")
	summary := readSaved(t, dir, "summary.txt")
	for _, want := range []string{"supervisor: running", "$ nlbsim get all -A -o wide", "pod/nginx-deployment-67dd5f77ff-", "service/nginx-nlb-service", "192.168.2.206   7777   ap-northeast-2b   healthy"} {
		assert.Contains(t, summary, want)
	}

	// A namespace removed behind nlbsim's back.
	out, err := exec.Command("ip", "netns", "del", topology.Namespace(name, "node-2")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	dir = t.TempDir()
	r, err = dump.Save(ctx, name, dir, sim.Backend)
	require.NoError(t, err)
	assert.Equal(t, len(hosts)-1, r.Hosts)
	require.Len(t, r.Problems, 1)
	assert.Contains(t, r.Problems[0], "node-2")
	assert.NoDirExists(t, filepath.Join(dir, "node-2"))
	assert.FileExists(t, filepath.Join(dir, "node-1", "iptables-save.txt"))
	assert.Contains(t, readSaved(t, dir, "summary.txt"), "MISSING namespaces: node-2")
	assert.Contains(t, readSaved(t, dir, "problems.txt"), "node-2")
}

// A cluster that does not exist cannot be saved.
func TestSaveUnknownCluster(t *testing.T) {
	simtest.RequireRoot(t)
	dir := t.TempDir()
	_, err := dump.Save(context.Background(), simtest.ClusterName(t), dir, sim.Backend)
	assert.ErrorIs(t, err, sim.ErrNoCluster)
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
	_, err = dump.Save(context.Background(), "Not.A.Name", dir, sim.Backend)
	assert.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "DNS label"), err)
}
