package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
)

// --subnet-prefix-length out of range, too small for the world asked for,
// or given with a real cluster's objects exits 2 naming the flag, for root
// or not, and creates nothing.
func TestSubnetPrefixLengthRefusals(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--subnet-prefix-length", "17"}, "--subnet-prefix-length: 17 is out of range (18–28"},
		{[]string{"--subnet-prefix-length", "29"}, "--subnet-prefix-length: 29 is out of range (18–28"},
		{[]string{"--nodes", "200", "--replicas", "2000"}, "--subnet-prefix-length: subnet 192.168.1.0/24 (ap-northeast-2a) has no free address left for pod"},
		{[]string{"--subnet-prefix-length", "26", "--replicas", "200", "--instance-type", "m5.xlarge"}, "more addresses than /26 subnets hold (53 each"},
		{[]string{"--from", clusterFixture, "--subnet-prefix-length", "20"}, "--subnet-prefix-length does not go with a real cluster's objects (--from)"},
	}
	for _, c := range cases {
		for _, who := range []*syscall.Credential{nil, nobody} {
			if who == nil && os.Geteuid() != 0 {
				continue
			}
			name := simtest.ClusterName(t)
			r := nlbsimAs(t, who, append([]string{"up", "--name", name}, c.args...)...)
			assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
			assert.Contains(t, r.stderr, c.want, "%v", c.args)
			left, _ := filepath.Glob("/run/netns/nlbsim." + name + ".*")
			assert.Empty(t, left, "nothing is created")
			assert.NoDirExists(t, "/run/nlbsim/"+name, "nothing is created")
		}
	}
}

// A running cluster's subnets need a new cluster to change, as its nodes
// do; asking for the size it has is no change.
func TestSubnetPrefixLengthInPlace(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	r := nlbsim(t, "up", "--name", name, "--minimal", "--subnet-prefix-length", "20")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "192.168.16.248:7777", "node-1's pod keeps its host part in 192.168.16.0/20")

	r = nlbsim(t, "up", "--name", name, "--subnet-prefix-length", "24")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "changing --subnet-prefix-length needs a new cluster")
	r = nlbsim(t, "up", "--name", name, "--subnet-prefix-length", "20")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "was already up with these settings")
	r = nlbsim(t, "up", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "was already up with these settings", "a flag not given keeps its value")
}
