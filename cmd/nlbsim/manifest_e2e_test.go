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

// writeManifest writes a manifest where an unprivileged user can read it.
func writeManifest(t *testing.T, name, data string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nlbsim-manifest-") // t.TempDir's parent is private
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	return p
}

// Bad manifests exit 2 with file:line and the API server's words, for root
// or not, and create nothing.
func TestBadManifestsExitTwo(t *testing.T) {
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n"
	cases := []struct {
		file, data, want string
	}{
		{"nodeport.yaml", svc + "  ports:\n  - port: 80\n    nodePort: 40000\n",
			"nodeport.yaml:9: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"},
		{"yaml.yaml", "apiVersion: v1\nkind: Service\n  metadata: x\n", "yaml.yaml:3: error converting YAML to JSON"},
		{"unknown.yaml", svc + "  ports:\n  - port: 80\n    targetport: 80\n", `unknown.yaml:9: strict decoding error: unknown field "spec.ports[0].targetport"`},
		{"udp.yaml", svc + "  ports:\n  - port: 53\n    protocol: UDP\n", "udp.yaml:9: spec.ports[0].protocol: Forbidden: UDP on a load-balanced port"},
		{"scheme.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    service.beta.kubernetes.io/aws-load-balancer-scheme: public\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n",
			`scheme.yaml:6: service default/web annotation service.beta.kubernetes.io/aws-load-balancer-scheme: unknown scheme "public"`},
	}
	for _, c := range cases {
		path := writeManifest(t, c.file, c.data)
		for _, who := range []*syscall.Credential{nil, nobody} {
			if who == nil && os.Geteuid() != 0 {
				continue
			}
			name := simtest.ClusterName(t)
			r := nlbsimAs(t, who, "up", "--name", name, "-f", path)
			assert.Equal(t, 2, r.code, "%s: %s", c.file, r.stderr)
			assert.Contains(t, r.stderr, c.want, c.file)
			left, _ := filepath.Glob("/run/netns/nlbsim." + name + ".*")
			assert.Empty(t, left, "nothing is created")
			r = nlbsimAs(t, who, "apply", "--name", name, "-f", path)
			assert.Equal(t, 2, r.code, "apply %s: %s", c.file, r.stderr)
			assert.Contains(t, r.stderr, c.want, c.file)
		}
	}
	r := nlbsim(t, "up", "-f", "no-such.yaml")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, `the path "no-such.yaml" does not exist`)
	r = nlbsim(t, "apply")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "apply needs -f FILE")
	r = nlbsim(t, "up", "--replicas", "5", "-f", "../../topology/testdata/nlb_ip_mode.yaml")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--replicas sets the walkthrough's nginx-deployment")
}

// apply changes a running cluster: with none, it says so and exits 1 (after
// checking the manifests).
func TestApplyNeedsARunningCluster(t *testing.T) {
	r := nlbsim(t, "apply", "--name", simtest.ClusterName(t), "-f", "../../topology/testdata/nlb_instance_mode.yaml")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "is running, and apply changes a running one")
}

// The walkthrough with its manifests: up -f the ip manifest, apply the
// instance manifest, and the NLB's targets are the nodes.
func TestManifestsScene(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	r := nlbsim(t, "up", "--name", name, "-f", "../../topology/testdata/nlb_ip_mode.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deployment.apps/nginx-deployment created\nservice/nginx-nlb-service created\n")
	assert.Contains(t, r.stdout, "NLB k8s-default-nginxnlb-4295c357fc (ip targets)")

	r = nlbsim(t, "apply", "--name", name, "-f", "../../topology/testdata/nlb_instance_mode.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "deployment.apps/nginx-deployment unchanged\nservice/nginx-nlb-service configured\n")
	assert.Contains(t, r.stdout, "was changed in place")
	assert.Contains(t, r.stdout, "NLB k8s-default-nginxnlb-4295c357fc (instance targets)")

	r = nlbsim(t, "exec", "--name", name, "bastion", "--", "curl", "-s", "--max-time", "5", "192.168.2.149:7777")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `peer: 192\.168\.(1\.118|2\.146|3\.137):`, r.stdout)

	// The flag beats the annotation, and stays.
	r = nlbsim(t, "up", "--name", name, "--mode", "ip")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "(ip targets)")
	r = nlbsim(t, "apply", "--name", name, "-f", "../../topology/testdata/nlb_instance_mode.yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "service/nginx-nlb-service unchanged")
	assert.Contains(t, r.stdout, "(ip targets)")
}
