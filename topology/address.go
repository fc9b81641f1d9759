package topology

import (
	"fmt"
	"net/netip"
)

// allocator hands out VPC addresses deterministically: the lowest free host
// address of a subnet from base+10 up, skipping AWS's reserved first four
// and last addresses and every address already used. Addresses never
// repeat while a world lives: the next candidate per subnet (its offset
// from the subnet's base) is kept in World.NextAddress.
type allocator struct {
	w      *World
	used   map[netip.Addr]bool
	cursor map[string]int
}

const firstDynamicHost = 10

func newAllocator(w *World) *allocator {
	a := &allocator{w: w, used: map[netip.Addr]bool{}, cursor: map[string]int{}}
	for k, v := range w.NextAddress {
		a.cursor[k] = v
	}
	for _, h := range w.Hosts() {
		a.used[h.IP] = true
	}
	return a
}

func (a *allocator) reserve(addrs ...netip.Addr) {
	for _, x := range addrs {
		a.used[x] = true
	}
}

// SubnetFullError says that a subnet has no address left for a host.
type SubnetFullError struct {
	Subnet Subnet
	What   string // the host: "pod nginx-…", "node 4"
}

func (e *SubnetFullError) Error() string {
	return fmt.Sprintf("subnet %s (%s) has no free address left for %s", e.Subnet.CIDR, e.Subnet.AZ, e.What)
}

func (a *allocator) next(s Subnet, what string) (netip.Addr, error) {
	start := max(a.cursor[s.Letter], firstDynamicHost)
	last := 1<<(32-s.CIDR.Bits()) - 2 // the subnet's last address is AWS's
	for h := start; h <= last; h++ {
		c := addrAdd(s.CIDR.Addr(), uint32(h))
		if !a.used[c] {
			a.used[c] = true
			a.cursor[s.Letter] = h + 1
			return c, nil
		}
	}
	return netip.Addr{}, &SubnetFullError{Subnet: s, What: what}
}

func (a *allocator) save() {
	for k, v := range a.cursor {
		a.w.NextAddress[k] = v
	}
}

func (w *World) usedClusterIPs() map[netip.Addr]bool {
	used := map[netip.Addr]bool{}
	for _, s := range w.Services {
		used[s.ClusterIP] = true
	}
	return used
}

// clusterIPFor is the ClusterIP of key: the first address not in used,
// from a hash of key on.
func (w *World) clusterIPFor(key string, used map[netip.Addr]bool) netip.Addr {
	base := w.Cluster.ServiceCIDR.Addr().As4()
	size := 1 << (32 - w.Cluster.ServiceCIDR.Bits())
	for h := hashUint(key); ; h++ {
		off := int(h%uint64(size-12)) + 11 // .0.0–.0.10 are the add-ons' and reserved
		c := netip.AddrFrom4([4]byte{base[0], base[1], byte(off >> 8), byte(off)})
		if !used[c] {
			return c
		}
	}
}

// NodePortRange is the API server's default --service-node-port-range.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// allocateNodePort picks a node port for key, deterministically from its
// name, skipping ports in use.
func (w *World) allocateNodePort(key string) int {
	return nodePortFor(key, w.usedNodePorts())
}

func (w *World) usedNodePorts() map[int]bool {
	used := map[int]bool{}
	for _, s := range w.Services {
		used[s.HealthCheckNodePort] = true
		for _, p := range s.Ports {
			used[p.NodePort] = true
		}
	}
	return used
}

// nodePortFor is the node port of key: the first port not in used, from a
// hash of key on.
func nodePortFor(key string, used map[int]bool) int {
	span := uint64(NodePortMax - NodePortMin + 1)
	for h := hashUint(key); ; h++ {
		if p := NodePortMin + int(h%span); !used[p] {
			return p
		}
	}
}
