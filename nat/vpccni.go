package nat

import (
	"fmt"
	"net/netip"
)

// Interface names on a node, as the VPC CNI makes them: the primary ENI is
// the uplink, pods' host-side veths are "eni" plus 11 hex digits.
const (
	NodeUplink    = "eth0"
	PodVethPrefix = "eni"
)

// ConnMark is the VPC CNI's connection mark (AWS_VPC_K8S_CNI_CONNMARK
// default): set on connections that enter through the primary ENI, so that
// a pod's replies to NodePort traffic leave through it again.
const ConnMark = 0x80

// The VPC CNI's nat chains (aws-node, pkg/networkutils/network.go, v1.16+:
// one chain per purpose, one RETURN rule per VPC CIDR).
const (
	awsSNATChain     = "AWS-SNAT-CHAIN-0"
	awsConnmarkChain = "AWS-CONNMARK-CHAIN-0"
)

// vpcCNI is what aws-node writes on a node with its defaults: SNAT of
// traffic leaving the VPC (prng, so --random-fully), node port support on,
// no excluded CIDRs, no external SNAT.
type vpcCNI struct {
	vpc    netip.Prefix
	nodeIP netip.Addr
}

func (c vpcCNI) mark() string { return fmt.Sprintf("%#x", ConnMark) }

// chains declares AWS-SNAT-CHAIN-0 and AWS-CONNMARK-CHAIN-0 and fills them.
// A VPC CIDR's RETURN rule is inserted at the top, the final rule appended.
func (c vpcCNI) chains(rs *Ruleset) {
	nat := ruleWriter{rs, TableNAT, OwnerVPCCNI}
	nat.chain(awsSNATChain, "")
	nat.chain(awsConnmarkChain, "")
	nat.rule(awsSNATChain, "", "-d", c.vpc.String(), "-m comment --comment", `"AWS SNAT CHAIN"`, "-j RETURN")
	nat.rule(awsSNATChain, "", "! -o vlan+", "-m comment --comment", `"AWS, SNAT"`,
		"-m addrtype ! --dst-type LOCAL", "-j SNAT --to-source", c.nodeIP.String(), "--random-fully")
	nat.rule(awsConnmarkChain, "", "-d", c.vpc.String(), "-m comment --comment", `"AWS CONNMARK CHAIN, VPC CIDR"`, "-j RETURN")
	nat.rule(awsConnmarkChain, "", "-m comment --comment", `"AWS, CONNMARK"`, "-j CONNMARK --set-xmark", c.mark()+"/"+c.mark())
}

// natPrerouting sends pods' new outbound connections to AWS-CONNMARK-CHAIN-0
// and copies the connection mark to the packet mark.
func (c vpcCNI) natPrerouting(rs *Ruleset) {
	nat := ruleWriter{rs, TableNAT, OwnerVPCCNI}
	nat.rule("PREROUTING", "", "-i", PodVethPrefix+"+", "-m comment --comment", `"AWS, outbound connections"`, "-j", awsConnmarkChain)
	nat.rule("PREROUTING", "", "-m comment --comment", `"AWS, CONNMARK"`, "-j CONNMARK --restore-mark --mask", c.mark())
}

func (c vpcCNI) natPostrouting(rs *Ruleset) {
	ruleWriter{rs, TableNAT, OwnerVPCCNI}.rule("POSTROUTING", "", "-m comment --comment", `"AWS SNAT CHAIN"`, "-j", awsSNATChain)
}

// manglePrerouting marks connections addressed to the node through the
// primary ENI and restores the mark on packets from pods.
func (c vpcCNI) manglePrerouting(rs *Ruleset) {
	m := ruleWriter{rs, TableMangle, OwnerVPCCNI}
	const primaryENI = `-m comment --comment "AWS, primary ENI"`
	m.rule("PREROUTING", "", primaryENI, "-i", NodeUplink, "-m addrtype --dst-type LOCAL --limit-iface-in",
		"-j CONNMARK --set-mark", c.mark()+"/"+c.mark())
	m.rule("PREROUTING", "", primaryENI, "-i", PodVethPrefix+"+", "-j CONNMARK --restore-mark --mask", c.mark())
	m.rule("PREROUTING", "", primaryENI, "-i vlan+", "-j CONNMARK --restore-mark --mask", c.mark())
}
