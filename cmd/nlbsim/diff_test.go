package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat/diff"
	"github.com/nlbsim/nlbsim/nat/explain"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

const (
	clusterFixture   = "../../topology/cluster/testdata/eks-cluster.yaml"
	kubeProxyFixture = "../../topology/cluster/testdata/kube-proxy-config.yaml"
	node1            = "ip-192-168-1-50.ap-northeast-2.compute.internal"
)

func TestRulesFrom(t *testing.T) {
	r := nlbsim(t, "rules", "--from", clusterFixture, "--from", kubeProxyFixture, "--node", node1)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr, "the fixture has nothing nlbsim does not model")
	assert.Contains(t, r.stdout, `-A KUBE-SERVICES -m comment --comment "shop/api:http cluster IP" -m tcp -p tcp -d 10.100.70.30 --dport 80 -j KUBE-SVC-`)
	assert.Contains(t, r.stdout, `-A KUBE-SEP-`)
	assert.Contains(t, r.stdout, "shop/orders:http has no endpoints")
	assert.NotContains(t, r.stdout, "AWS-SNAT", "the VPC CNI's rules depend on the VPC, not on the objects")

	short := nlbsim(t, "rules", "--from", clusterFixture, "--node", "ip-192-168-1-50")
	require.Equal(t, 0, short.code, short.stderr)
	assert.Equal(t, r.stdout, short.stdout, "the short name; EKS's kube-proxy defaults are nlbsim's")

	extra := filepath.Join(t.TempDir(), "extra.yaml")
	require.NoError(t, os.WriteFile(extra, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"), 0o644))
	r = nlbsim(t, "rules", "--from", clusterFixture, "--from", extra, "--node", node1)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "warning: 1 Deployment object(s) not modelled; left out\n", r.stderr)

	notAList := filepath.Join(t.TempDir(), "notes.yaml")
	require.NoError(t, os.WriteFile(notAList, []byte("- some\n- notes\n"), 0o644))
	missing := filepath.Join(t.TempDir(), "no-such.yaml")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", clusterFixture, "--node", "ip-10-0-0-1"}, `--node: no node "ip-10-0-0-1" in the objects; nodes: ` + node1},
		{[]string{"--from", missing, "--node", node1, "--proxy-mode", "ipvs"}, "--proxy-mode ipvs: not modelled yet"},
		{[]string{"--from", missing}, "--node: missing"},
		{[]string{"--node", "node-1", "--proxy-mode", "ipvs"}, `--proxy-mode: unknown kube-proxy mode "ipvs"`},
		{[]string{"--from", notAList, "--node", node1}, "notes.yaml:1: not a List or a Kubernetes object"},
	} {
		r := nlbsim(t, append([]string{"rules"}, c.args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
	}
}

func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	r := nlbsim(t, "rules", "--from", clusterFixture, "--from", kubeProxyFixture, "--node", node1)
	require.Equal(t, 0, r.code, r.stderr)
	same := filepath.Join(dir, "same.rules")
	require.NoError(t, os.WriteFile(same, []byte(r.stdout), 0o644))

	r = nlbsim(t, "diff", "--from", clusterFixture, "--from", kubeProxyFixture, "--node", node1, "--rules", same)
	assert.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "kube-proxy's rules agree with the objects")

	wrong := filepath.Join(dir, "wrong.rules")
	require.NoError(t, os.WriteFile(wrong, []byte(strings.Replace(readFile(t, same), "--to-destination 192.168.1.121:8080", "--to-destination 192.168.1.121:8081", 1)), 0o644))
	r = nlbsim(t, "diff", "--from", clusterFixture, "--node", node1, "--rules", wrong, "-o", "json")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	var report diff.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report), r.stdout)
	assert.False(t, report.Agree)
	require.Len(t, report.Services, 1)
	assert.Equal(t, "shop/api", report.Services[0].Service)
	assert.Equal(t, diff.KindEndpointTarget, report.Services[0].Findings[0].Kind)
	assert.Equal(t, 1, report.SchemaVersion)

	garbage := filepath.Join(dir, "garbage.rules")
	require.NoError(t, os.WriteFile(garbage, []byte("*nat\n-A KUBE-SERVICES -m c\n"), 0o644))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", clusterFixture, "--node", node1}, "--rules: missing"},
		{[]string{"--node", node1, "--rules", same}, "--from: missing"},
		{[]string{"--from", clusterFixture, "--node", node1, "--rules", same, "-o", "yaml"}, `-o: unknown format "yaml"`},
		{[]string{"--from", "-", "--node", node1, "--rules", "-"}, "cannot both read standard input"},
		{[]string{"--from", clusterFixture, "--node", node1, "--rules", garbage}, "garbage.rules: 2 lines that iptables-restore would refuse"},
	} {
		r := nlbsim(t, append([]string{"diff"}, c.args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// --from - and --rules - read standard input (one of them at a time).
func TestDiffReadsStandardInput(t *testing.T) {
	rules := nlbsim(t, "rules", "--from", clusterFixture, "--node", node1)
	require.Equal(t, 0, rules.code, rules.stderr)
	dump := filepath.Join(t.TempDir(), "node.rules")
	require.NoError(t, os.WriteFile(dump, []byte(rules.stdout), 0o644))
	objects, err := os.ReadFile(clusterFixture)
	require.NoError(t, err)
	for _, c := range []struct {
		args  []string
		stdin []byte
	}{
		{[]string{"diff", "--from", "-", "--node", node1, "--rules", dump}, objects},
		{[]string{"diff", "--from", clusterFixture, "--node", node1, "--rules", "-"}, []byte(rules.stdout)},
	} {
		cmd := exec.Command(binary, c.args...)
		cmd.Stdin = bytes.NewReader(c.stdin)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v: %s", c.args, out)
		assert.Contains(t, string(out), "agree with the objects", "%v", c.args)
	}
}

// rules shows either mode side by side without root or a running cluster:
// the iptables-restore text of v1.30, or the nft -f text of v1.33.
func TestRulesProxyModes(t *testing.T) {
	ipt := nlbsim(t, "rules", "--name", "nft-rules-none", "--node", "node-2", "--proxy-mode", "iptables")
	require.Equal(t, 0, ipt.code, ipt.stderr)
	assert.Contains(t, ipt.stdout, "-A KUBE-SVC-VDXCGHLC7LJVQSZ7 ")
	nft := nlbsim(t, "rules", "--name", "nft-rules-none", "--node", "node-2", "--proxy-mode", "nftables")
	require.Equal(t, 0, nft.code, nft.stderr)
	assert.Contains(t, nft.stdout, "add rule ip kube-proxy service-UZX5NTXH-default/nginx-nlb-service/tcp/ numgen random mod 3 vmap {")
	assert.NotContains(t, nft.stdout, "KUBE-")
	saved := nlbsim(t, "rules", "--name", "nft-rules-none", "--node", "node-2", "--proxy-mode", "nftables", "--saved")
	require.Equal(t, 0, saved.code, saved.stderr)
	assert.NotContains(t, saved.stdout, "KUBE-SERVICES", "in nftables mode iptables holds kubelet's and the VPC CNI's rules")
	assert.Contains(t, saved.stdout, "AWS-SNAT-CHAIN-0")
}

// explain reads the nft text rules prints: numgen random mod 3 is a third
// each, exactly, with the same outcome JSON as for iptables.
func TestExplainNFTRules(t *testing.T) {
	nft := nlbsim(t, "rules", "--name", "nft-rules-none", "--node", "node-2", "--proxy-mode", "nftables")
	require.Equal(t, 0, nft.code, nft.stderr)
	file := filepath.Join(t.TempDir(), "node-2.nft")
	require.NoError(t, os.WriteFile(file, []byte(nft.stdout), 0o644))
	r := nlbsim(t, "explain", "--rules", file, "--node-ip", "192.168.2.146", "--from", "external", "--src", "192.168.1.51", "--dst", "192.168.2.146:32392", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var report struct {
		Outcomes []struct {
			Verdict     string   `json:"verdict"`
			Target      string   `json:"target"`
			Probability float64  `json:"probability"`
			Masquerade  bool     `json:"masquerade"`
			Path        []string `json:"path"`
		} `json:"outcomes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report))
	require.Len(t, report.Outcomes, 3)
	for _, o := range report.Outcomes {
		assert.Equal(t, "DNAT", o.Verdict)
		assert.InDelta(t, 1.0/3, o.Probability, 1e-15)
		assert.True(t, o.Masquerade)
		assert.Contains(t, o.Path, "external-UZX5NTXH-default/nginx-nlb-service/tcp/")
	}
}

const nftListingFixture = "../../nat/diff/testdata/node-1.nft"

// In nftables mode diff takes nft list ruleset (text or JSON); the mode is
// --proxy-mode's, else the ConfigMap's, else the dump's, and a dump of
// another mode than the one named is refused by name.
func TestDiffNFTables(t *testing.T) {
	dir := t.TempDir()
	listing := readFile(t, nftListingFixture)
	r := nlbsim(t, "diff", "--from", clusterFixture, "--node", node1, "--rules", nftListingFixture)
	assert.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "kube-proxy's rules agree with the objects")
	r = nlbsim(t, "diff", "--from", clusterFixture, "--from", kubeProxyFixture, "--proxy-mode", "nftables", "--node", node1, "--rules", nftListingFixture+".json")
	assert.Equal(t, 0, r.code, r.stdout+r.stderr)

	// A service-ips element gone: the ClusterIP port is rejected.
	gone := filepath.Join(dir, "gone.nft")
	require.NoError(t, os.WriteFile(gone, []byte(strings.Replace(listing, "10.100.70.30 . tcp . 9090 : goto service-TCH7CHS3-shop/api/tcp/metrics", "", 1)), 0o644))
	require.NotEqual(t, listing, readFile(t, gone))
	r = nlbsim(t, "diff", "--from", clusterFixture, "--node", node1, "--rules", gone, "-o", "json")
	assert.Equal(t, 1, r.code, r.stderr)
	var report diff.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report), r.stdout)
	assert.Equal(t, diff.ModeNFTables, report.Mode)
	require.Len(t, report.Services, 1)
	assert.Equal(t, "shop/api", report.Services[0].Service)
	assert.Equal(t, diff.KindMissingElement, report.Services[0].Findings[0].Kind)

	iptables := nlbsim(t, "rules", "--from", clusterFixture, "--node", node1)
	require.Equal(t, 0, iptables.code, iptables.stderr)
	saved := filepath.Join(dir, "node-1.rules")
	require.NoError(t, os.WriteFile(saved, []byte(iptables.stdout), 0o644))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", clusterFixture, "--from", kubeProxyFixture, "--node", node1, "--rules", nftListingFixture},
			"node-1.nft: is nft ruleset (kube-proxy's nftables mode), but the kube-proxy ConfigMap (kube-system/kube-proxy-config) says iptables mode: give that node's iptables-save, or say --proxy-mode nftables"},
		{[]string{"--from", clusterFixture, "--proxy-mode", "iptables", "--node", node1, "--rules", nftListingFixture}, "but --proxy-mode says iptables mode"},
		{[]string{"--from", clusterFixture, "--proxy-mode", "nftables", "--node", node1, "--rules", saved},
			"node-1.rules: is iptables-save output (kube-proxy's iptables mode), but --proxy-mode says nftables mode: give that node's nft list ruleset, or say --proxy-mode iptables"},
		{[]string{"--from", clusterFixture, "--proxy-mode", "ipvs", "--node", node1, "--rules", saved}, "--proxy-mode ipvs: not modelled yet"},
	} {
		r := nlbsim(t, append([]string{"diff"}, c.args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
		assert.Empty(t, r.stdout, "%v", c.args)
	}
}

// A node of a running cluster in nftables mode — its nft list ruleset, as
// kube-proxy's syncs left it, beside kubelet's and the VPC CNI's
// iptables-nft tables — agrees with the cluster's own objects; a Service
// deleted from the objects is the one stale Service.
func TestDiffRunningNFTablesNode(t *testing.T) {
	c := simtest.Up(t, simtest.ProxyMode(topology.ProxyNFTables), simtest.Mode(topology.TargetInstance))
	require.True(t, c.World.NFTables())
	for _, n := range c.World.Nodes {
		listing, err := exec.Command("ip", "netns", "exec", topology.Namespace(c.World.Cluster.Name, n.Name), "nft", "list", "ruleset").Output()
		require.NoError(t, err)
		rs, err := explain.ParseNFT(string(listing))
		require.NoError(t, err)
		r, err := diff.CompareNFT(c.World, n.Name, rs)
		require.NoError(t, err)
		b, _ := json.MarshalIndent(r, "", "  ")
		assert.True(t, r.Agree, "%s: %s", n.Name, b)
		assert.NotEmpty(t, r.Ignored, "%s: the VPC CNI's chains are recognised", n.Name)

		w := c.World.Clone()
		var kept []topology.Service
		for _, s := range w.Services {
			if s.Key() != "default/nginx-nlb-service" {
				kept = append(kept, s)
			}
		}
		require.Len(t, kept, len(w.Services)-1)
		w.Services = kept
		r, err = diff.CompareNFT(w, n.Name, rs)
		require.NoError(t, err)
		require.Len(t, r.Services, 1, n.Name)
		assert.Equal(t, diff.StatusStale, r.Services[0].Status)
		assert.Empty(t, r.NodeFindings)
	}
}

// A cluster whose API server runs with another --service-node-port-range
// (NodePorts 8080 and 40000, a health check node port 20080) gives its
// objects as they are: rules --from programs them in both modes, as
// kube-proxy does (it never checks the range; the API server did), and diff
// agrees with them.
func TestRulesFromNodePortsOutsideTheDefaultRange(t *testing.T) {
	objects := readFile(t, clusterFixture)
	for old, new := range map[string]string{"nodePort: 30080": "nodePort: 8080", "nodePort: 31080": "nodePort: 40000", "healthCheckNodePort: 32080": "healthCheckNodePort: 20080"} {
		require.Contains(t, objects, old)
		objects = strings.Replace(objects, old, new, 1)
	}
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, []byte(objects), 0o644))

	ipt := nlbsim(t, "rules", "--from", file, "--node", node1)
	require.Equal(t, 0, ipt.code, ipt.stderr)
	assert.Contains(t, ipt.stdout, "-A KUBE-NODEPORTS -m comment --comment shop/api:http -m tcp -p tcp --dport 8080 -j KUBE-EXT-")
	assert.Contains(t, ipt.stdout, "--dport 40000 -j KUBE-EXT-")
	assert.Contains(t, ipt.stdout, "--dport 20080 -j ACCEPT", "the health check node port")
	nft := nlbsim(t, "rules", "--from", file, "--node", node1, "--proxy-mode", "nftables")
	require.Equal(t, 0, nft.code, nft.stderr)
	assert.Contains(t, nft.stdout, "add element ip kube-proxy service-nodeports { tcp . 8080 : goto external-")
	assert.Contains(t, nft.stdout, "add element ip kube-proxy service-nodeports { tcp . 40000 : goto external-")

	dir := t.TempDir()
	for mode, text := range map[string]string{"iptables": ipt.stdout, "nftables": nft.stdout} {
		rules := filepath.Join(dir, mode)
		require.NoError(t, os.WriteFile(rules, []byte(text), 0o644))
		r := nlbsim(t, "diff", "--from", file, "--node", node1, "--rules", rules, "--proxy-mode", mode)
		assert.Equal(t, 0, r.code, "%s: %s%s", mode, r.stdout, r.stderr)
		// Against the objects with the default range's ports, the Services
		// differ: the node ports are part of what is compared.
		r = nlbsim(t, "diff", "--from", clusterFixture, "--node", node1, "--rules", rules, "--proxy-mode", mode, "-o", "json")
		assert.Equal(t, 1, r.code, "%s: %s", mode, r.stderr)
	}
}
