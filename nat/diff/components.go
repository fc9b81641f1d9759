package diff

import (
	"strings"
)

// component is a program other than kube-proxy that writes chains on a
// node; its chains are recognised by name and left out of the verdict.
type component struct {
	name     string
	prefixes []string
	exact    []string
}

var components = []component{
	{name: "kubelet", exact: []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", "KUBE-MARK-DROP"}},
	{name: "VPC CNI (aws-node)", prefixes: []string{"AWS-"}},
	{name: "Calico", prefixes: []string{"cali-"}},
	{name: "Cilium", prefixes: []string{"CILIUM_", "CILIUM-", "OLD_CILIUM_"}},
	{name: "flannel", prefixes: []string{"FLANNEL-"}},
	{name: "docker", prefixes: []string{"DOCKER"}},
	{name: "weave", prefixes: []string{"WEAVE"}},
	{name: "CNI plugins (bridge, portmap)", prefixes: []string{"CNI-"}},
	{name: "kube-router", prefixes: []string{"KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-"}},
	{name: "Antrea", prefixes: []string{"ANTREA-"}},
	{name: "nlbsim's NLB", prefixes: []string{"NLB-"}},
}

// componentOf names the component that owns chain, "" for none known.
func componentOf(chain string) string {
	for _, c := range components {
		for _, e := range c.exact {
			if chain == e {
				return c.name
			}
		}
		for _, p := range c.prefixes {
			if strings.HasPrefix(chain, p) {
				return c.name
			}
		}
	}
	return ""
}

// kube-proxy's fixed chains in iptables mode, by table.
var fixedChains = map[string]map[string]bool{
	"nat": {"KUBE-SERVICES": true, "KUBE-NODEPORTS": true, "KUBE-POSTROUTING": true, "KUBE-MARK-MASQ": true, "KUBE-PROXY-CANARY": true},
	"filter": {"KUBE-SERVICES": true, "KUBE-EXTERNAL-SERVICES": true, "KUBE-NODEPORTS": true, "KUBE-FORWARD": true,
		"KUBE-PROXY-FIREWALL": true, "KUBE-PROXY-CANARY": true},
	"mangle": {"KUBE-PROXY-CANARY": true},
}

// sharedChains hold rules of many Services.
var sharedChains = map[string]bool{
	"nat/KUBE-SERVICES": true, "nat/KUBE-NODEPORTS": true, "filter/KUBE-SERVICES": true,
	"filter/KUBE-EXTERNAL-SERVICES": true, "filter/KUBE-NODEPORTS": true, "filter/KUBE-PROXY-FIREWALL": true,
}

// sortedShared are the shared chains in a fixed order, for stable reports.
var sortedShared = []string{"filter/KUBE-EXTERNAL-SERVICES", "filter/KUBE-NODEPORTS", "filter/KUBE-PROXY-FIREWALL",
	"filter/KUBE-SERVICES", "nat/KUBE-NODEPORTS", "nat/KUBE-SERVICES"}

var servicePrefixes = []string{"KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"}

func isServiceChain(name string) bool {
	for _, p := range servicePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// isKubeProxyChain reports whether kube-proxy in iptables mode writes a
// chain of that name: a fixed chain or a per-Service one.
func isKubeProxyChain(table, name string) bool {
	return fixedChains[table][name] || (table == "nat" && isServiceChain(name))
}
