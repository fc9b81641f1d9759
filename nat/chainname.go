package nat

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// Prefixes of kube-proxy's per-service chains (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier.go, servicePortPolicyClusterChain and friends).
const (
	servicePrefix  = "KUBE-SVC-" // Cluster policy: every usable endpoint
	localPrefix    = "KUBE-SVL-" // Local policy: this node's endpoints
	externalPrefix = "KUBE-EXT-" // entry for NodePort, externalIP and LB traffic
	firewallPrefix = "KUBE-FW-"  // loadBalancerSourceRanges
	endpointPrefix = "KUBE-SEP-" // one endpoint: hairpin masquerade and DNAT
)

// ServicePortName is kube-proxy's name of one Service port: "namespace/name",
// followed by ":portName" only when the port is named.
func ServicePortName(svc topology.Service, port topology.ServicePort) string {
	name := svc.Namespace + "/" + svc.Name
	if port.Name != "" {
		name += ":" + port.Name
	}
	return name
}

// ServiceChainName is the KUBE-SVC chain of a Service port. proto is the
// port's protocol in any case (TCP or tcp).
func ServiceChainName(svcPortName, proto string) string {
	return servicePrefix + portProtoHash(svcPortName, proto)
}

// EndpointChainName is the KUBE-SEP chain of one endpoint ("ip:port", the
// target port) of a Service port.
func EndpointChainName(svcPortName, proto, endpoint string) string {
	return endpointPrefix + chainHash(svcPortName+strings.ToLower(proto)+endpoint)
}

// serviceChains are the four chain names a Service port can have; they share
// one hash.
type serviceChains struct {
	cluster, local, external, firewall string
}

func serviceChainsOf(svcPortName, proto string) serviceChains {
	h := portProtoHash(svcPortName, proto)
	return serviceChains{
		cluster:  servicePrefix + h,
		local:    localPrefix + h,
		external: externalPrefix + h,
		firewall: firewallPrefix + h,
	}
}

func portProtoHash(svcPortName, proto string) string {
	return chainHash(svcPortName + strings.ToLower(proto))
}

// chainHash is the first 16 characters of the standard base32 encoding of
// the SHA-256 of s; padding never reaches them.
func chainHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	var enc [56]byte // base32 of 32 bytes, padded
	base32.StdEncoding.Encode(enc[:], sum[:])
	return string(enc[:16])
}

// isServiceChain reports whether a chain is one kube-proxy makes per Service
// and deletes once unused.
func isServiceChain(name string) bool {
	for _, p := range []string{servicePrefix, localPrefix, externalPrefix, firewallPrefix, endpointPrefix} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
