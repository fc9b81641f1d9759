package explain

import (
	"math/big"
	"net/netip"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// Distribution returns, for packet p, the probability of being DNATed to
// each target and let through. Mass that ends untranslated, dropped or
// rejected is not in the map, so its values sum to at most 1.
func Distribution(d *ruleset.Dump, p Packet, opts Options) (map[netip.AddrPort]float64, error) {
	r, err := Walk(d, p, opts)
	if err != nil {
		return nil, err
	}
	return r.Distribution(), nil
}

// Distribution sums the report's DNAT outcomes by target.
func (r *Report) Distribution() map[netip.AddrPort]float64 {
	exact := map[netip.AddrPort]*big.Rat{}
	for _, o := range r.Outcomes {
		if o.Verdict != VerdictDNAT || o.Target == nil {
			continue
		}
		if exact[*o.Target] == nil {
			exact[*o.Target] = new(big.Rat)
		}
		exact[*o.Target].Add(exact[*o.Target], o.Exact)
	}
	dist := make(map[netip.AddrPort]float64, len(exact))
	for target, p := range exact {
		dist[target], _ = p.Float64()
	}
	return dist
}
