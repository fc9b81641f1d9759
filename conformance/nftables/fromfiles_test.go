package nftables

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"sigs.k8s.io/yaml"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
	"github.com/nlbsim/nlbsim/topology/cluster"
)

// The fixture cluster `nlbsim rules --from` is tested on: what `kubectl get
// nodes,services,endpointslices,pods -A -o yaml` and the kube-proxy
// ConfigMap of an EKS cluster give.
var fromFiles = []string{"../../topology/cluster/testdata/eks-cluster.yaml", "../../topology/cluster/testdata/kube-proxy-config.yaml"}

// fileObjects are the objects upstream's informers would hand kube-proxy,
// read straight from the files (not from nlbsim's world).
type fileObjects struct {
	nodes    map[string]v1.Node // by name
	services []v1.Service
	slices   []discovery.EndpointSlice
	config   map[string]any // the KubeProxyConfiguration
}

func readFileObjects(files []string) (*fileObjects, error) {
	out := &fileObjects{nodes: map[string]v1.Node{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		var doc struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(js, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		items := doc.Items
		if doc.Kind != "List" {
			items = []json.RawMessage{js}
		}
		for i, raw := range items {
			var kind struct {
				Kind string `json:"kind"`
			}
			if err := json.Unmarshal(raw, &kind); err != nil {
				return nil, fmt.Errorf("%s item %d: %w", f, i, err)
			}
			switch kind.Kind {
			case "Node":
				var n v1.Node
				err = json.Unmarshal(raw, &n)
				out.nodes[n.Name] = n
			case "Service":
				var s v1.Service
				err = json.Unmarshal(raw, &s)
				out.services = append(out.services, s)
			case "EndpointSlice":
				var s discovery.EndpointSlice
				err = json.Unmarshal(raw, &s)
				out.slices = append(out.slices, s)
			case "ConfigMap":
				var cm v1.ConfigMap
				if err = json.Unmarshal(raw, &cm); err == nil {
					err = yaml.Unmarshal([]byte(cm.Data["config"]), &out.config)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("%s item %d (%s): %w", f, i, kind.Kind, err)
			}
		}
	}
	return out, nil
}

// For every node of the fixture cluster in nftables mode, what `nlbsim
// rules --from --proxy-mode nftables` derives (topology/cluster reading
// the files, nat's NFTProxier) is what upstream's nftables proxier sends,
// transaction by transaction, and the table it leaves, when its informers
// hand it the same Services, EndpointSlices and Node, read from the same
// files.
//
// The files say no ServiceCIDR (kubectl get nodes,services,endpointslices,
// pods lists none), so neither side is given one: on a real v1.33 node
// kube-proxy also learns the cluster's ServiceCIDR objects and drops
// traffic to unallocated ClusterIPs in cluster-ips-check.
func TestRulesFromFilesMatchUpstream(t *testing.T) { compareFromFiles(t, fromFiles) }

// NodePorts outside 30000–32767, as a cluster with another
// --service-node-port-range gives them: upstream programs them as they
// are, and so does nlbsim.
func TestRulesFromFilesNodePortRange(t *testing.T) {
	data, err := os.ReadFile(fromFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, r := range [][2]string{{"nodePort: 30080", "nodePort: 8080"}, {"nodePort: 31080", "nodePort: 40000"}, {"healthCheckNodePort: 32080", "healthCheckNodePort: 20080"}} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("the fixture has no %q", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	file := filepath.Join(t.TempDir(), "eks-cluster.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	compareFromFiles(t, []string{file, fromFiles[1]})
}

// compareFromFiles compares, node by node, nlbsim's rules for the files
// with upstream's for the objects they hold.
func compareFromFiles(t *testing.T, files []string) {
	objs, err := readFileObjects(files)
	if err != nil {
		t.Fatal(err)
	}
	iptablesCfg, _ := objs.config["iptables"].(map[string]any)
	if iptablesCfg["masqueradeBit"] != float64(masqueradeBit) || iptablesCfg["masqueradeAll"] != false || objs.config["clusterCIDR"] != "" || objs.config["nodePortAddresses"] != nil {
		t.Fatalf("the fixture's KubeProxyConfiguration is not the one the harness builds upstream with: %v", objs.config)
	}
	ms, err := topology.ReadManifests(files)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Read("fixture", ms)
	if err != nil {
		t.Fatal(err)
	}
	w := c.World
	w.Cluster.KubeProxy.Mode = "nftables" // --proxy-mode nftables
	if len(w.Nodes) != len(objs.nodes) || len(objs.nodes) < 2 || len(objs.services) == 0 || len(objs.slices) == 0 {
		t.Fatalf("nlbsim read %d nodes; the files hold %d nodes, %d Services, %d EndpointSlices", len(w.Nodes), len(objs.nodes), len(objs.services), len(objs.slices))
	}
	if w.Cluster.ServiceCIDR.IsValid() {
		t.Fatalf("nlbsim found a ServiceCIDR (%s) in files that hold none", w.Cluster.ServiceCIDR)
	}
	// As the files give it (no ServiceCIDR), and with the one EKS
	// allocates these ClusterIPs from, given to both sides (what diff
	// takes from a node's cluster-ips-check).
	withCIDR := w.Clone()
	withCIDR.Cluster.ServiceCIDR = netip.MustParsePrefix("10.100.0.0/16")
	for _, n := range w.Nodes {
		for _, w := range []*topology.World{w, withCIDR} {
			serviceCIDR := ""
			if w.Cluster.ServiceCIDR.IsValid() {
				serviceCIDR = w.Cluster.ServiceCIDR.String()
			}
			t.Run(n.Name+"/serviceCIDR="+serviceCIDR, func(t *testing.T) {
				p := nat.NewNFTProxier(n.Name)
				p.KeepDump()
				s, err := p.Sync(w, nat.NFTSyncOptions{Now: time.Now()}, nil)
				if err != nil {
					t.Fatal(err)
				}
				node, ok := objs.nodes[n.NodeName]
				if !ok {
					t.Fatalf("no Node %s in the files", n.NodeName)
				}
				got, err := RunUpstream(World{Name: "fixture", Host: n.Name, NodeName: node.Name, NodeIP: n.IP.String(), Node: node,
					ServiceCIDR: serviceCIDR, SyncPeriod: w.Cluster.KubeProxy.SyncPeriod,
					Steps: []Step{{Services: objs.services, EndpointSlices: objs.slices}}})
				if err != nil {
					t.Fatalf("upstream: %v", err)
				}
				if diffs := CompareSync(s.Transactions, p.Dump(), got[0]); len(diffs) > 0 {
					t.Errorf("%s (%s): rules --from --proxy-mode nftables differs from upstream:\n  %s", n.Name, n.NodeName, strings.Join(diffs, "\n  "))
				}
				if !strings.Contains(got[0].Dump, "dnat to") {
					t.Errorf("upstream wrote no endpoint: the objects did not reach it\n%s", got[0].Dump)
				}
				// Not blind: upstream without the files' first EndpointSlice differs.
				fewer, err := RunUpstream(World{Name: "fixture", Host: n.Name, NodeName: node.Name, NodeIP: n.IP.String(), Node: node,
					ServiceCIDR: serviceCIDR, SyncPeriod: w.Cluster.KubeProxy.SyncPeriod,
					Steps: []Step{{Services: objs.services, EndpointSlices: objs.slices[1:]}}})
				if err != nil {
					t.Fatalf("upstream: %v", err)
				}
				if len(CompareSync(s.Transactions, p.Dump(), fewer[0])) == 0 {
					t.Errorf("upstream without EndpointSlice %s/%s wrote the same rules", objs.slices[0].Namespace, objs.slices[0].Name)
				}
				if serviceCIDR != "" && !strings.Contains(got[0].Dump, serviceCIDR) {
					t.Errorf("upstream did not use ServiceCIDR %s", serviceCIDR)
				}
			})
		}
	}
}
