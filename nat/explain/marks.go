package explain

import (
	"math"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// applyMarkTarget returns the packet mark after a MARK target.
func applyMarkTarget(mark uint32, t *ruleset.Target) uint32 {
	for _, o := range t.Options {
		mark = applyMarkOp(mark, o)
	}
	return mark
}

// applyMarkOp applies one --set-xmark/--set-mark/--and-mark/--or-mark/
// --xor-mark option to a mark; other options leave it alone.
func applyMarkOp(mark uint32, o *ruleset.Option) uint32 {
	switch o.Name {
	case "set-xmark":
		m, _ := ruleset.ParseMark(o.Arg())
		return mark&^m.Mask ^ m.Value
	case "set-mark":
		m, _ := ruleset.ParseMark(o.Arg())
		return mark&^m.Mask | m.Value
	case "and-mark":
		v, _ := ruleset.ParseMarkValue(o.Arg())
		return mark & v
	case "or-mark":
		v, _ := ruleset.ParseMarkValue(o.Arg())
		return mark | v
	case "xor-mark":
		v, _ := ruleset.ParseMarkValue(o.Arg())
		return mark ^ v
	}
	return mark
}

// applyConnmarkTarget returns the packet mark and connection mark after a
// CONNMARK target: set the connection mark, save the packet mark into it,
// or restore the packet mark from it, each through its masks.
func applyConnmarkTarget(mark, connmark uint32, t *ruleset.Target) (uint32, uint32) {
	nfmask, ctmask := uint32(math.MaxUint32), uint32(math.MaxUint32)
	maskOption := func(name string) (uint32, bool) {
		if o := t.Option(name); o != nil {
			v, _ := ruleset.ParseMarkValue(o.Arg())
			return v, true
		}
		return 0, false
	}
	if m, ok := maskOption("mask"); ok {
		nfmask, ctmask = m, m
	}
	if m, ok := maskOption("nfmask"); ok {
		nfmask = m
	}
	if m, ok := maskOption("ctmask"); ok {
		ctmask = m
	}
	switch {
	case t.Option("save-mark") != nil:
		connmark = connmark&^ctmask ^ mark&nfmask
	case t.Option("restore-mark") != nil:
		mark = mark&^nfmask ^ connmark&ctmask
	default:
		for _, o := range t.Options {
			connmark = applyMarkOp(connmark, o)
		}
	}
	return mark, connmark
}
