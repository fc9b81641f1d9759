package topology

import (
	"fmt"
	"strings"
)

// NodeEdit is one change of a node's labels or taints, as `kubectl label
// node` and `kubectl taint node` take it: KEY=VALUE or KEY- for a label,
// KEY[=VALUE]:EFFECT or KEY[:EFFECT]- for a taint.
type NodeEdit struct {
	Taint  bool // a taint, else a label
	Key    string
	Value  string
	Effect string // a taint's; empty in a removal removes every effect
	Remove bool
}

// ParseNodeEdit reads a label (taint false) or taint edit; bad input is an
// *InvalidError naming it.
func ParseNodeEdit(s string, taint bool) (NodeEdit, error) {
	e := NodeEdit{Taint: taint}
	bad := func(format string, args ...any) (NodeEdit, error) {
		what := "label"
		if taint {
			what = "taint"
		}
		return e, &InvalidError{Err: fmt.Errorf("%s %q: "+format, append([]any{what, s}, args...)...)}
	}
	rest := s
	if strings.HasSuffix(rest, "-") {
		e.Remove, rest = true, strings.TrimSuffix(rest, "-")
	}
	if taint {
		if k, eff, ok := strings.Cut(rest, ":"); ok {
			rest, e.Effect = k, eff
			switch eff {
			case "NoSchedule", "PreferNoSchedule", "NoExecute":
			default:
				return bad("unknown effect %q (valid: NoSchedule, PreferNoSchedule, NoExecute)", eff)
			}
		} else if !e.Remove {
			return bad("give KEY[=VALUE]:EFFECT, or KEY- to remove it")
		}
	}
	k, v, hasValue := strings.Cut(rest, "=")
	if e.Remove && hasValue {
		return bad("a removal names only the key")
	}
	if !taint && !e.Remove && !hasValue {
		return bad("give KEY=VALUE, or KEY- to remove it")
	}
	if k == "" || strings.ContainsAny(k, " ,") {
		return bad("%q is not a key", k)
	}
	e.Key, e.Value = k, v
	return e, nil
}

// Apply makes the edit on a node.
func (e NodeEdit) Apply(n *Node) {
	switch {
	case !e.Taint && e.Remove:
		delete(n.Labels, e.Key)
	case !e.Taint:
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[e.Key] = e.Value
	default:
		kept := n.Taints[:0:0]
		for _, t := range n.Taints {
			if t.Key != e.Key || e.Effect != "" && t.Effect != e.Effect {
				kept = append(kept, t)
			}
		}
		if !e.Remove {
			kept = append(kept, Taint{Key: e.Key, Value: e.Value, Effect: e.Effect})
		}
		n.Taints = kept
	}
}

// String is the edit as kubectl takes it.
func (e NodeEdit) String() string {
	s := e.Key
	if e.Value != "" || !e.Taint && !e.Remove {
		s += "=" + e.Value
	}
	if e.Effect != "" {
		s += ":" + e.Effect
	}
	if e.Remove {
		s += "-"
	}
	return s
}
