// Package topology describes what an nlbsim world is: a validated, fully
// addressed model of the walkthrough's VPC, EKS nodes, pods, Services and
// Network Load Balancers. It is pure data and never needs root.
package topology

import (
	"fmt"
	"regexp"
	"strings"
)

// TargetType is the NLB target type chosen by the
// service.beta.kubernetes.io/aws-load-balancer-nlb-target-type annotation.
type TargetType string

const (
	TargetIP       TargetType = "ip"
	TargetInstance TargetType = "instance"
)

// TrafficPolicy is a Service's externalTrafficPolicy.
type TrafficPolicy string

const (
	PolicyCluster TrafficPolicy = "Cluster"
	PolicyLocal   TrafficPolicy = "Local"
)

// DefaultClusterName is the walkthrough's cluster, used when no --name is given.
const DefaultClusterName = "myeks"

// MaxClusterNameLen keeps namespace names short and unambiguous.
const MaxClusterNameLen = 20

// Spec is what a user asks for: the flags of `nlbsim up` and the manifests
// of `-f`. Mode, CrossZone, PreserveClientIP and ExternalTrafficPolicy are
// unset (empty, nil) when the user did not give them, so that precedence
// (flag over annotation over controller default) can be applied.
type Spec struct {
	Name                  string
	Mode                  TargetType // empty: the annotation, else the controller's default (the walkthrough's Service says ip)
	Nodes                 int
	Replicas              int // of the walkthrough's nginx-deployment; unused with Manifests
	CrossZone             *bool
	PreserveClientIP      *bool
	ExternalTrafficPolicy TrafficPolicy // empty: the Service's own (Cluster for the walkthrough's)
	TimeScale             float64
	Minimal               bool
	InstanceType          string
	// Services adds that many ClusterIP Services (namespace bench) with
	// EndpointsPerService endpoints each (0: 10) at addresses that never
	// answer: a big node ruleset for scale experiments, without a
	// namespace per endpoint.
	Services            int `json:",omitempty"`
	EndpointsPerService int `json:",omitempty"`
	// SubnetPrefixLength is the prefix length of the three AZ subnets
	// (0: DefaultSubnetPrefixLength, the walkthrough's /24s; azSubnets lays
	// them out). A real cluster's (From) come from its addresses.
	SubnetPrefixLength int `json:",omitempty"`
	// ProxyMode is kube-proxy's mode (empty: iptables); also set by a
	// KubeProxyConfiguration among the manifests, which a flag beats.
	ProxyMode ProxyMode `json:",omitempty"`
	// Manifests, when given, replace the walkthrough's Deployment and
	// Service (the add-ons stay). Their text is kept so that the world
	// rebuilds deterministically and the state records what was applied.
	Manifests []Manifest `json:",omitempty"`
	// From, when given, is a real cluster's objects as kubectl prints them
	// (topology/cluster reads them; FromCluster completes the world): the
	// whole world but the VPC's own hosts comes from them.
	From []Manifest `json:",omitempty"`
}

// DefaultSpec is the walkthrough's cluster.
func DefaultSpec() Spec {
	return Spec{
		Name:                  DefaultClusterName,
		Mode:                  TargetIP,
		Nodes:                 3,
		Replicas:              3,
		ExternalTrafficPolicy: PolicyCluster,
		TimeScale:             1,
		InstanceType:          "t3.medium",
	}
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidateClusterName checks that name is a DNS label of at most 20 characters.
func ValidateClusterName(name string) error {
	if name == "" {
		return fmt.Errorf("cluster name must not be empty")
	}
	if len(name) > MaxClusterNameLen {
		return fmt.Errorf("cluster name %q is %d characters long; at most %d are allowed", name, len(name), MaxClusterNameLen)
	}
	if !dnsLabel.MatchString(name) {
		return fmt.Errorf("cluster name %q is not a DNS label: use lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// MaxNodes bounds Spec.Nodes: the worlds one machine holds.
const MaxNodes = 200

// Validate checks a spec; an error is an *InvalidError naming the field
// that is wrong.
func (s Spec) Validate() error {
	if err := ValidateClusterName(s.Name); err != nil {
		return &InvalidError{Field: "Name", Err: err}
	}
	switch s.Mode {
	case "", TargetIP, TargetInstance:
	default:
		return Invalid("Mode", "unknown target type %q (valid: ip, instance)", s.Mode)
	}
	if s.Nodes < 1 || s.Nodes > MaxNodes {
		return Invalid("Nodes", "%d is out of range (1–%d)", s.Nodes, MaxNodes)
	}
	if s.Replicas < 0 {
		return Invalid("Replicas", "%d is negative", s.Replicas)
	}
	switch s.ExternalTrafficPolicy {
	case "", PolicyCluster, PolicyLocal:
	default:
		return Invalid("ExternalTrafficPolicy", "unknown policy %q (valid: Cluster, Local)", s.ExternalTrafficPolicy)
	}
	if !(s.TimeScale >= 1 && s.TimeScale <= 1e6) {
		return Invalid("TimeScale", "%v is out of range (1–1000000)", s.TimeScale)
	}
	if s.Services < 0 || s.Services > MaxBenchServices {
		return Invalid("Services", "%d is out of range (0–%d)", s.Services, MaxBenchServices)
	}
	if s.EndpointsPerService < 0 || s.EndpointsPerService > MaxBenchEndpoints {
		return Invalid("EndpointsPerService", "%d is out of range (0–%d; 0 means 10)", s.EndpointsPerService, MaxBenchEndpoints)
	}
	switch s.ProxyMode {
	case "", ProxyIPTables, ProxyNFTables:
	default:
		return Invalid("ProxyMode", "unknown kube-proxy mode %q (valid: iptables, nftables; ipvs is not modelled)", s.ProxyMode)
	}
	if b := s.SubnetPrefixLength; b != 0 && (b < MinSubnetPrefixLength || b > MaxSubnetPrefixLength) {
		return Invalid("SubnetPrefixLength", "%d is out of range (%d–%d: AWS's subnets are /16 to /28, and three of them beside the VPC resolver's block fit the VPC 192.168.0.0/16 from /%d on)",
			b, MinSubnetPrefixLength, MaxSubnetPrefixLength, MinSubnetPrefixLength)
	}
	if len(s.From) > 0 && s.SubnetPrefixLength != 0 {
		return Invalid("SubnetPrefixLength", "a real cluster's subnets come from its nodes' and pods' addresses (--from)")
	}
	if len(s.From) > 0 && (len(s.Manifests) > 0 || s.Services > 0 || s.Minimal) {
		return Invalid("From", "a real cluster's objects make the whole world: manifests (-f), --services and --minimal do not go with them")
	}
	if _, ok := InstanceTypes[s.InstanceType]; !ok {
		return Invalid("InstanceType", "unknown instance type %q (known: %s)", s.InstanceType, strings.Join(instanceTypeNames(), ", "))
	}
	return nil
}
