package topology

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Prefix lengths of a generated world's AZ subnets (Spec.SubnetPrefixLength).
// AWS takes /16 to /28; three subnets beside the VPC resolver's block fit
// the /16 VPC from /18 on. eksctl's own subnets are /19.
const (
	DefaultSubnetPrefixLength = 24 // the walkthrough's
	MinSubnetPrefixLength     = 18
	MaxSubnetPrefixLength     = 28
)

// azSubnets lays out a generated world's three AZ subnets in the VPC
// 192.168.0.0/16: cut into blocks of /bits, AZ i's subnet is block i+1
// (block 0 holds the VPC resolver, 192.168.0.2). /24 gives the
// walkthrough's 192.168.1.0/24, 2.0/24 and 3.0/24; /19, eksctl's size,
// gives 192.168.32.0/19, 64.0/19 and 96.0/19. The router is each subnet's
// base+1, as on AWS.
func azSubnets(bits int) []Subnet {
	size := uint32(1) << (32 - bits)
	var out []Subnet
	for i, l := range azLetters {
		cidr := netip.PrefixFrom(addrAdd(vpcCIDR.Addr(), uint32(i+1)*size), bits)
		out = append(out, Subnet{AZ: Region + l, Letter: l, CIDR: cidr, Gateway: cidr.Addr().Next()})
	}
	return out
}

// placed is where one of the walkthrough's fixed addresses (in
// 192.168.1–3.0/24, one /24 per AZ) lives in a world's subnets: at the same
// host part in the same AZ's subnet when the subnets are /24 or larger
// (192.168.1.118 is 192.168.32.118 in /19 subnets), else nowhere — the
// allocator places that host like any other, since a smaller subnet cannot
// hold the walkthrough's host parts of its AZ. With /24 subnets every
// address stays as SPEC gives it.
func (w *World) placed(a netip.Addr) netip.Addr {
	b := a.As4()
	s := w.Subnets[b[2]-1]
	if s.CIDR.Bits() > DefaultSubnetPrefixLength {
		return netip.Addr{}
	}
	return addrAdd(s.CIDR.Addr(), uint32(b[3]))
}

// placedAll is placed for each address, keeping only those placed.
func (w *World) placedAll(as []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range as {
		if p := w.placed(a); p.IsValid() {
			out = append(out, p)
		}
	}
	return out
}

// unusedVPCBlock is the largest block of the VPC, from its top, that holds
// no subnet and not the resolver: 192.168.128.0/17 beside subnets of /19
// or smaller, 192.168.32.0/19 beside /18 ones.
func (w *World) unusedVPCBlock() netip.Prefix {
	vpc := w.Cluster.VPC
	for bits := vpc.Bits() + 1; bits <= 30; bits++ {
		size := uint32(1) << (32 - bits)
		for i := (uint32(1) << (bits - vpc.Bits())) - 1; ; i-- {
			block := netip.PrefixFrom(addrAdd(vpc.Addr(), i*size), bits)
			free := !block.Contains(w.Cluster.Resolver)
			for _, s := range w.Subnets {
				free = free && !block.Overlaps(s.CIDR)
			}
			if free {
				return block
			}
			if i == 0 {
				break
			}
		}
	}
	panic(fmt.Sprintf("no free block in VPC %s", vpc)) // three subnets never fill the VPC
}

// addrAdd is the IPv4 address n after a.
func addrAdd(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], binary.BigEndian.Uint32(b[:])+n)
	return netip.AddrFrom4(out)
}
