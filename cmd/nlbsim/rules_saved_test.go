package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
)

// rules --saved prints the iptables-save form of a node's rules (nat's
// TestSavedTextMatchesKernel checks that form against the kernel); no root.
func TestRulesSaved(t *testing.T) {
	name := fmt.Sprintf("conf-%d", os.Getpid())
	r := nlbsimAs(t, nobody, "rules", "--node", "node-2", "--saved", "--name", name)
	if os.Geteuid() != 0 {
		r = nlbsim(t, "rules", "--node", "node-2", "--saved", "--name", name)
	}
	require.Equal(t, 0, r.code, r.stderr)
	spec := topology.DefaultSpec()
	spec.Name = name
	w, err := topology.Build(spec)
	require.NoError(t, err)
	rs, err := nat.KubeProxy(w, "node-2")
	require.NoError(t, err)
	assert.Equal(t, rs.SavedText(), r.stdout)
	assert.Contains(t, r.stdout, "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n")
	assert.Contains(t, r.stdout, "-A KUBE-SEP-LHC45K453FK42NFG -s 192.168.1.248/32 -m comment --comment \"default/nginx-nlb-service\" -j KUBE-MARK-MASQ\n")
	assert.Contains(t, r.stdout, "--probability 0.33333333349 -j KUBE-SEP-")
}
