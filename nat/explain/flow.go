package explain

import (
	"math/big"
	"net/netip"
	"slices"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// flow is one branch of the packet's journey: the packet as rules have left
// it, and the weight of the random choices that led here.
type flow struct {
	weight *big.Rat

	src      netip.Addr
	srcPort  uint16
	dst      netip.Addr
	dstPort  uint16
	inIface  string
	outIface string

	mark, connmark uint32
	untracked      bool
	// recent holds the `-m recent --set` lists this packet was added to.
	recent []string

	dnat       *netip.AddrPort
	snat       *netip.Addr
	masquerade bool

	path  []string
	stack []frame
}

// frame is a chain being walked and the next rule to look at.
type frame struct {
	chain *ruleset.Chain
	next  int
	// shownAt is the index of the chain's name in path, -1 when the chain
	// has not acted since it was entered or resumed.
	shownAt int
}

func (f *flow) clone() *flow {
	g := *f
	g.weight = new(big.Rat).Set(f.weight)
	g.recent = slices.Clone(f.recent)
	g.path = slices.Clone(f.path)
	g.stack = slices.Clone(f.stack)
	return &g
}

// split returns a copy of f carrying 1-p of its weight; f keeps p.
func (f *flow) split(p *big.Rat) *flow {
	rest := f.clone()
	rest.weight.Mul(rest.weight, new(big.Rat).Sub(big.NewRat(1, 1), p))
	f.weight.Mul(f.weight, p)
	return rest
}

// enter calls chain (a jump), or replaces the current chain with it (goto).
func (f *flow) enter(chain *ruleset.Chain, isGoto bool) {
	fr := frame{chain: chain, shownAt: -1}
	switch {
	case isGoto && len(f.stack) > 1:
		f.stack[len(f.stack)-1] = fr
		return
	case isGoto: // from the hook chain, whose policy applies when chain ends
		f.stack[0].next = len(f.stack[0].chain.Rules)
	}
	f.stack = append(f.stack, fr)
}

// leave returns from the current chain to its caller.
func (f *flow) leave() {
	f.stack = f.stack[:len(f.stack)-1]
	caller := &f.stack[len(f.stack)-1]
	if caller.shownAt >= 0 && caller.shownAt < len(f.path)-1 {
		caller.shownAt = -1 // something else was shown since; show it again when it acts
	}
}

// acted records in the path the chains on the way to a rule that acted.
// The hook chain itself (stack[0]) is named by the hook already.
func (f *flow) acted() {
	for i := 1; i < len(f.stack); i++ {
		if f.stack[i].shownAt < 0 {
			f.path = append(f.path, f.stack[i].chain.Name)
			f.stack[i].shownAt = len(f.path) - 1
		}
	}
}

func (f *flow) wasRecentlySet(name string) bool {
	return slices.Contains(f.recent, name)
}
