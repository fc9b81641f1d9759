package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// up --from with input that is not a cluster's objects, or a cluster beyond
// one machine, exits 2 naming the file and the object, for root or not, and
// creates nothing.
func TestUpFromBadInputExitsTwo(t *testing.T) {
	fixture := readFile(t, clusterFixture)
	lines := strings.SplitAfter(fixture, "\n")
	start := strings.Index(fixture, "    addresses:\n")
	end := strings.Index(fixture, "    conditions:\n")
	require.True(t, start > 0 && end > start)
	nodeless := fixture[:start] + fixture[end:]

	var many strings.Builder
	many.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := 0; i <= topology.MaxNodes; i++ {
		fmt.Fprintf(&many, `- apiVersion: v1
  kind: Node
  metadata: {name: n%03d, labels: {topology.kubernetes.io/zone: us-east-1a}}
  status: {addresses: [{type: InternalIP, address: 10.0.%d.%d}]}
`, i, i/200, 10+i%200)
	}
	subnets := strings.Replace(fixture, "      service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing\n",
		"      service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing\n      service.beta.kubernetes.io/aws-load-balancer-subnets: subnet-0a1b,subnet-0c2d\n", 1)
	require.NotEqual(t, fixture, subnets)

	cases := []struct {
		file, data, want string
	}{
		{"notes.yaml", "- some\n- notes\n", "notes.yaml:1: not a List or a Kubernetes object"},
		{"truncated.yaml", strings.Join(lines[:len(lines)/2], ""), "truncated.yaml:1: a list without its kind: a truncated file?"},
		{"nodeless.yaml", nodeless, "nodeless.yaml:3: Node " + node1 + ": status.addresses has no IPv4 InternalIP"},
		{"big.yaml", many.String(), fmt.Sprintf("big.yaml:%d: Node n200: the input has 201 Nodes; nlbsim rebuilds at most 200 on one machine", 4+200*4)},
		{"subnets.yaml", subnets, "Service shop/web: annotation service.beta.kubernetes.io/aws-load-balancer-subnets: not modelled"},
	}
	for _, c := range cases {
		path := writeManifest(t, c.file, c.data)
		for _, who := range []*syscall.Credential{nil, nobody} {
			if who == nil && os.Geteuid() != 0 {
				continue
			}
			name := simtest.ClusterName(t)
			r := nlbsimAs(t, who, "up", "--name", name, "--from", path)
			assert.Equal(t, 2, r.code, "%s: %s", c.file, r.stderr)
			assert.Contains(t, r.stderr, c.want, c.file)
			left, _ := filepath.Glob("/run/netns/nlbsim." + name + ".*")
			assert.Empty(t, left, "nothing is created")
			assert.NoDirExists(t, "/run/nlbsim/"+name, "nothing is created")
		}
	}
	r := nlbsim(t, "up", "--from", clusterFixture, "--nodes", "4")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--nodes does not go with a real cluster's objects (--from)")
	r = nlbsim(t, "up", "--from", clusterFixture, "-f", "../../topology/testdata/nlb_ip_mode.yaml")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--filename does not go with a real cluster's objects (--from)")
}
