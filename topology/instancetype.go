package topology

import "sort"

// InstanceType is the part of an EC2 instance type that VPC CNI cares about.
type InstanceType struct {
	ENIs       int
	IPv4PerENI int
}

// MaxPods is VPC CNI's pod limit: ENIs × (IPv4 addresses per ENI − 1) + 2,
// host-network pods included, as kubelet counts them.
func (t InstanceType) MaxPods() int { return t.ENIs*(t.IPv4PerENI-1) + 2 }

// InstanceTypes lists the instance types nlbsim knows (from EC2's ENI limits).
var InstanceTypes = map[string]InstanceType{
	"t3.nano":   {ENIs: 2, IPv4PerENI: 2},
	"t3.micro":  {ENIs: 2, IPv4PerENI: 2},
	"t3.small":  {ENIs: 3, IPv4PerENI: 4},
	"t3.medium": {ENIs: 3, IPv4PerENI: 6},
	"t3.large":  {ENIs: 3, IPv4PerENI: 12},
	"t3.xlarge": {ENIs: 4, IPv4PerENI: 15},
	"m5.large":  {ENIs: 3, IPv4PerENI: 10},
	"m5.xlarge": {ENIs: 4, IPv4PerENI: 15},
	"c5.large":  {ENIs: 3, IPv4PerENI: 10},
}

func instanceTypeNames() []string {
	names := make([]string, 0, len(InstanceTypes))
	for n := range InstanceTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
