package main

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphBadUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"graph", "-o", "png"}, 2, `unknown format "png" (valid: mermaid, dot)`},
		{[]string{"graph", "extra"}, 2, `unknown command "extra"`},
		{[]string{"graph", "--name", "lab-no-such-cluster"}, 1, `no cluster "lab-no-such-cluster" is running`},
	} {
		for _, who := range []*syscall.Credential{nil, nobody} {
			if who != nil && os.Geteuid() != 0 {
				continue
			}
			r := nlbsimAs(t, who, c.args...)
			assert.Equal(t, c.code, r.code, "%v: %s", c.args, r.stderr)
			assert.Contains(t, r.stderr, c.want, "%v", c.args)
		}
	}
}

// The picture follows the running cluster: pods behind the NLB in ip mode,
// nodes' NodePort after switching to instance mode in place.
func TestGraphFollowsTheMode(t *testing.T) {
	name, _ := upForTest(t, "--minimal")
	r := nlbsimAs(t, nobody, "graph", "--name", name)
	require.Equal(t, 0, r.code, "graph needs no root: %s", r.stderr)
	assert.Contains(t, r.stdout, "ip targets")
	assert.Contains(t, r.stdout, `"nlb-b (NLB)<br/>192.168.2.149"`)
	assert.Regexp(t, `nlb_b ==>\|":7777 healthy"\| nginx_deployment_`, r.stdout)

	r = nlbsim(t, "up", "--name", name, "--mode", "instance")
	require.Equal(t, 0, r.code, r.stderr)
	r = nlbsim(t, "graph", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "instance targets")
	assert.Contains(t, r.stdout, `nlb_b ==>|":32392 healthy"| node_2`)
	assert.Regexp(t, `node_2 -\.->\|"kube-proxy 1/3"\| nginx_deployment_`, r.stdout)

	r = nlbsim(t, "graph", "--name", name, "-o", "dot")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"nlb_b" -> "node_2" [label=":32392 healthy"`)
}
