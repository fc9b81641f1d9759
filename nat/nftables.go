package nat

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"

	"github.com/nlbsim/nlbsim/topology"
)

// kube-proxy's nftables mode (v1.33): the table, its fixed chains, sets and
// maps, named as
// https://github.com/kubernetes/kubernetes/blob/v1.33.13/pkg/proxy/nftables/proxier.go
// names them.
const (
	// NFTTable is kube-proxy's table, in family ip.
	NFTTable = "kube-proxy"

	nftFilterPreroutingPreDNAT = "filter-prerouting-pre-dnat"
	nftFilterOutputPreDNAT     = "filter-output-pre-dnat"
	nftFilterInput             = "filter-input"
	nftFilterForward           = "filter-forward"
	nftFilterOutput            = "filter-output"
	nftNATPrerouting           = "nat-prerouting"
	nftNATOutput               = "nat-output"
	nftNATPostrouting          = "nat-postrouting"

	nftServicesChain        = "services"
	nftServiceIPsMap        = "service-ips"
	nftServiceNodePortsMap  = "service-nodeports"
	nftNodePortIPsSet       = "nodeport-ips"
	nftClusterIPsSet        = "cluster-ips"
	nftServiceEPCheckChain  = "service-endpoints-check"
	nftNodePortEPCheckChain = "nodeport-endpoints-check"
	nftNoEndpointServices   = "no-endpoint-services"
	nftNoEndpointNodePorts  = "no-endpoint-nodeports"
	nftRejectChain          = "reject-chain"
	nftClusterIPsCheckChain = "cluster-ips-check"
	nftFirewallIPsMap       = "firewall-ips"
	nftFirewallCheckChain   = "firewall-check"
	nftMarkMasqChain        = "mark-for-masquerade"
	nftMasqueradingChain    = "masquerading"

	// Prefixes of the per-Service chains and sets.
	nftServicePrefix  = "service-"
	nftLocalPrefix    = "local-"
	nftExternalPrefix = "external-"
	nftFirewallPrefix = "firewall-"
	nftEndpointPrefix = "endpoint-"
	nftAffinityPrefix = "affinity-"

	// nftChainNameBaseMax is knftables.NameLengthMax minus the longest
	// prefix and some room: upstream's chainNameBaseLengthMax.
	nftChainNameBaseMax = knftables.NameLengthMax - 16
)

type nftBaseChain struct {
	name     string
	typ      knftables.BaseChainType
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
}

// nftBaseChains are upstream's nftablesBaseChains, in its order.
var nftBaseChains = []nftBaseChain{
	{nftFilterPreroutingPreDNAT, knftables.FilterType, knftables.PreroutingHook, knftables.DNATPriority + "-10"},
	{nftFilterOutputPreDNAT, knftables.FilterType, knftables.OutputHook, knftables.DNATPriority + "-10"},
	{nftFilterInput, knftables.FilterType, knftables.InputHook, knftables.FilterPriority},
	{nftFilterForward, knftables.FilterType, knftables.ForwardHook, knftables.FilterPriority},
	{nftFilterOutput, knftables.FilterType, knftables.OutputHook, knftables.FilterPriority},
	{nftNATPrerouting, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority},
	{nftNATOutput, knftables.NATType, knftables.OutputHook, knftables.DNATPriority},
	{nftNATPostrouting, knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
}

// nftJumpChains are upstream's nftablesJumpChains: the regular chains the
// base chains jump to, in order.
var nftJumpChains = []struct{ dst, src, extra string }{
	{nftNodePortEPCheckChain, nftFilterInput, "ct state new"},
	{nftServiceEPCheckChain, nftFilterInput, "ct state new"},
	{nftServiceEPCheckChain, nftFilterForward, "ct state new"},
	{nftServiceEPCheckChain, nftFilterOutput, "ct state new"},
	{nftFirewallCheckChain, nftFilterPreroutingPreDNAT, "ct state new"},
	{nftFirewallCheckChain, nftFilterOutputPreDNAT, "ct state new"},
	{nftServicesChain, nftNATOutput, ""},
	{nftServicesChain, nftNATPrerouting, ""},
	{nftMasqueradingChain, nftNATPostrouting, ""},
	{nftClusterIPsCheckChain, nftFilterForward, "ct state new"},
	{nftClusterIPsCheckChain, nftFilterOutput, "ct state new"},
}

// nftHashAndTruncate is upstream's hashAndTruncate: the first 8 characters
// of the base32 SHA-256 of name, a dash, and name, cut to 240 characters.
func nftHashAndTruncate(name string) string {
	sum := sha256.Sum256([]byte(name))
	name = base32.StdEncoding.EncodeToString(sum[:])[:8] + "-" + name
	if len(name) > nftChainNameBaseMax {
		name = name[:nftChainNameBaseMax-3] + "..."
	}
	return name
}

// NFTServiceChainBase is the base of a Service port's chain names in
// nftables mode: "HASH-namespace/name/protocol/portName" (an unnamed port
// leaves a trailing slash).
func NFTServiceChainBase(namespace, name, protocol, portName string) string {
	return nftHashAndTruncate(fmt.Sprintf("%s/%s/%s/%s", namespace, name, strings.ToLower(protocol), portName))
}

// NFTEndpointChainBase is the base of an endpoint's chain and affinity set
// names: "HASH-namespace/name/protocol/portName__ip/port".
func NFTEndpointChainBase(namespace, name, protocol, portName, ip string, port int) string {
	ip = strings.ReplaceAll(ip, ":", ".")
	return nftHashAndTruncate(fmt.Sprintf("%s/%s/%s/%s__%s/%s", namespace, name, strings.ToLower(protocol), portName, ip, strconv.Itoa(port)))
}

// isNFTServiceChain is upstream's isServiceChainName: the per-Service and
// per-endpoint chains are the ones with a slash in their names.
func isNFTServiceChain(name string) bool { return strings.Contains(name, "/") }

// NFTablesText is the `nft -f` input of a node's first kube-proxy sync in
// nftables mode: the whole kube-proxy table, as `rules --node` shows it.
func NFTablesText(w *topology.World, nodeHost string) (string, error) {
	s, err := NewNFTProxier(nodeHost).Sync(w, NFTSyncOptions{Full: true}, nil)
	if err != nil {
		return "", err
	}
	return s.Text(), nil
}
