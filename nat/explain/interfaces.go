package explain

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// Where an interface of the walk came from (Interfaces.InSource, OutSource).
const (
	SourceOption   = "option"   // the caller named it (Packet.InInterface, OutInterface)
	SourceInferred = "inferred" // read from the dump's own CNI chains
	SourceDefault  = "default"  // DefaultPodInterface or the uplink
	SourceRouted   = "routed"   // per destination: Options.Routes, inferred routes, else the uplink
	SourceNone     = "none"     // packets from the node arrive on no interface
)

// Interfaces says which interfaces a walk used and where each came from.
type Interfaces struct {
	// In is the interface the packet arrived on, "" from the node.
	In       string `json:"in"`
	InSource string `json:"inSource"`
	// Out is the interface every forwarded or sent packet left by when the
	// caller named one; otherwise "" and each outcome's OutInterface says.
	Out       string `json:"out"`
	OutSource string `json:"outSource"`
	Uplink    string `json:"uplink"`
	// Routes are the connected prefixes that leave by another interface
	// than the uplink, given or inferred.
	Routes []RouteSummary `json:"routes"`
	// CNI names the network plugin whose chains the inference recognised.
	CNI string `json:"cni,omitempty"`
	// Evidence lists the rules or chains the inference read.
	Evidence []string `json:"evidence,omitempty"`
	// Note says why something was not inferred (an ambiguity).
	Note string `json:"note,omitempty"`
}

// RouteSummary is a route as the report shows it.
type RouteSummary struct {
	Prefix    string `json:"prefix"`
	Interface string `json:"interface"`
	Source    string `json:"source"` // option or inferred
}

// Inference is what a dump's own chains say about the node's interfaces.
type Inference struct {
	// CNI is the plugin recognised: aws-vpc-cni, calico, cilium, flannel,
	// weave, kubenet, docker or bridge; "" when none.
	CNI string
	// PodInterface is the host side of a pod's link, "" when the dump does
	// not say or says several things (then Note says which).
	PodInterface string
	// Routes send pod ranges to their bridge or overlay interface.
	Routes   []Route
	Evidence []string
	Note     string
}

// cniFamily is one plugin's signature: the chain prefixes it owns and the
// host-side names of its pods' links.
type cniFamily struct {
	name          string
	chainPrefixes []string
	// podPattern is the pods' interface as rules match it: a name, or a
	// prefix ending in "+" for per-pod veths.
	podPattern string
	// comments are words of the comments its rules carry.
	comments []string
	// kubernetes is false for docker, whose bridge a Kubernetes node may
	// carry beside its CNI without any pod on it.
	kubernetes bool
}

var cniFamilies = []cniFamily{
	{name: "aws-vpc-cni", chainPrefixes: []string{"AWS-SNAT-CHAIN", "AWS-CONNMARK-CHAIN"}, podPattern: "eni+", kubernetes: true},
	{name: "calico", chainPrefixes: []string{"cali-"}, podPattern: "cali+", kubernetes: true},
	{name: "cilium", chainPrefixes: []string{"CILIUM_"}, podPattern: "lxc+", kubernetes: true},
	// flannel delegates pods to the bridge plugin's cni0.
	{name: "flannel", chainPrefixes: []string{"FLANNEL-"}, comments: []string{"flanneld masq", "flanneld forward"}, podPattern: "cni0", kubernetes: true},
	{name: "weave", chainPrefixes: []string{"WEAVE"}, podPattern: "weave", kubernetes: true},
	{name: "kubenet", comments: []string{"kubenet:"}, podPattern: "cbr0", kubernetes: true},
	{name: "docker", chainPrefixes: []string{"DOCKER"}, podPattern: "docker0"},
}

// InferInterfaces reads the dump's CNI chains and rules: which plugin wrote
// them, the host-side interface of a pod, and the pod ranges that leave by
// a bridge or overlay. It guesses nothing: where two plugins claim the pods,
// or several per-pod interfaces are named, PodInterface stays empty and Note
// says why.
func InferInterfaces(d *ruleset.Dump) Inference {
	var inf Inference
	if d == nil {
		return inf
	}
	type seen struct {
		family   cniFamily
		evidence string
		concrete map[string]bool // per-pod names the rules use (cali1a2b…)
	}
	var found []*seen
	get := func(f cniFamily, evidence string) *seen {
		for _, s := range found {
			if s.family.name == f.name {
				return s
			}
		}
		s := &seen{family: f, evidence: evidence, concrete: map[string]bool{}}
		found = append(found, s)
		return s
	}
	for _, t := range d.Tables {
		for _, c := range t.Chains {
			for _, f := range cniFamilies {
				for _, prefix := range f.chainPrefixes {
					if strings.HasPrefix(c.Name, prefix) {
						get(f, fmt.Sprintf("%s chain %s (line %d)", t.Name, c.Name, c.Line))
					}
				}
			}
			for _, r := range c.Rules {
				if comment := r.Comment(); comment != "" {
					for _, f := range cniFamilies {
						for _, word := range f.comments {
							if strings.Contains(comment, word) {
								get(f, fmt.Sprintf("%s line %d: %s", t.Name, r.Line, r.Text))
							}
						}
					}
				}
				for _, m := range []*ruleset.InterfaceMatch{r.InInterface, r.OutInterface} {
					if m == nil {
						continue
					}
					for _, f := range cniFamilies {
						if name, ok := familyMember(f, m.Name); ok {
							s := get(f, fmt.Sprintf("%s line %d: %s", t.Name, r.Line, r.Text))
							if name != "" {
								s.concrete[name] = true
							}
						}
					}
				}
			}
		}
	}
	// A Kubernetes CNI's pods are not on docker0, even where docker runs.
	var kube, other []*seen
	for _, s := range found {
		if s.family.kubernetes {
			kube = append(kube, s)
		} else {
			other = append(other, s)
		}
	}
	candidates := kube
	if len(candidates) == 0 {
		candidates = other
	}
	switch len(candidates) {
	case 0:
		return inf
	case 1:
	default:
		names := make([]string, len(candidates))
		for i, s := range candidates {
			names[i] = s.family.name + " (" + representative(s.family.podPattern) + ")"
		}
		inf.Note = "the dump holds the chains of several network plugins: " + strings.Join(names, ", ") + "; name the pod's interface with --in-interface"
		for _, s := range candidates {
			inf.Evidence = append(inf.Evidence, s.evidence)
		}
		return inf
	}
	s := candidates[0]
	inf.CNI = s.family.name
	inf.Evidence = append(inf.Evidence, s.evidence)
	switch names := sortedKeys(s.concrete); {
	case len(names) == 1:
		inf.PodInterface = names[0]
	case len(names) > 1:
		inf.Note = fmt.Sprintf("the dump names %d %s pod interfaces (%s); name the pod's with --in-interface", len(names), s.family.name, abbreviateList(names, 4))
	default:
		inf.PodInterface = representative(s.family.podPattern)
	}
	if len(kube) > 0 && len(other) > 0 {
		inf.Note = strings.TrimPrefix(inf.Note+"; ", "; ") + "docker0 is there too: a pod that docker started (no CNI) is on it; say --in-interface docker0"
	}
	inf.Routes, inf.Evidence = inferRoutes(d, s.family, inf.Evidence)
	return inf
}

// familyMember reports whether an interface a rule names belongs to f, and
// the per-pod name when it is one (not the pattern itself).
func familyMember(f cniFamily, name string) (concrete string, ok bool) {
	prefix, perPod := strings.CutSuffix(f.podPattern, "+")
	if !perPod {
		return "", name == f.podPattern
	}
	if name == f.podPattern {
		return "", true
	}
	if strings.HasPrefix(name, prefix) && !strings.HasSuffix(name, "+") && len(name) > len(prefix) {
		return name, true
	}
	return "", false
}

// representative is a name that a pattern matches: eni+ → eni0.
func representative(pattern string) string {
	if prefix, ok := strings.CutSuffix(pattern, "+"); ok {
		return prefix + "0"
	}
	return pattern
}

// inferRoutes finds the pod ranges that leave by the plugin's bridge or
// overlay, from the masquerade rules that describe them.
func inferRoutes(d *ruleset.Dump, f cniFamily, evidence []string) ([]Route, []string) {
	nat := d.Table("nat")
	if nat == nil {
		return nil, evidence
	}
	var routes []Route
	add := func(p netip.Prefix, iface string, source netip.Addr, r *ruleset.Rule) {
		for _, have := range routes {
			if have.Prefix == p {
				return
			}
		}
		routes = append(routes, Route{Prefix: p, Interface: iface, Source: source})
		evidence = append(evidence, fmt.Sprintf("nat line %d: %s", r.Line, r.Text))
	}
	single := func(m *ruleset.AddressMatch) (netip.Prefix, bool) {
		if m == nil || len(m.Prefixes) != 1 {
			return netip.Prefix{}, false
		}
		return m.Prefixes[0], true
	}
	for _, c := range nat.Chains {
		for _, r := range c.Rules {
			if r.Target == nil {
				continue
			}
			src, hasSrc := single(r.Source)
			dst, hasDst := single(r.Destination)
			switch f.name {
			case "docker", "kubenet":
				// -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE: the bridge's
				// range; the bridge holds its first address (172.17.0.1).
				if r.Target.Name == "MASQUERADE" && hasSrc && !r.Source.Negated && r.OutInterface != nil &&
					r.OutInterface.Negated && r.OutInterface.Name == f.podPattern {
					add(src, f.podPattern, src.Addr().Next(), r)
				}
			case "flannel":
				// ! -s 10.244.0.0/16 -d 10.244.1.0/24 -j RETURN: this node's
				// subnet is on cni0 (which holds its .1), the rest of the
				// network beyond flannel.1 (VXLAN, flannel's default backend;
				// the device holds the subnet's own address, 10.244.1.0).
				if hasSrc && hasDst && r.Source.Negated && !r.Destination.Negated && r.Target.Name == "RETURN" && src.Contains(dst.Addr()) && dst.Bits() > src.Bits() {
					add(dst, "cni0", dst.Addr().Next(), r)
					add(src, "flannel.1", dst.Addr(), r)
				}
			case "weave":
				// ! -s NET -d NET -j MASQUERADE: traffic into the weave network.
				if hasSrc && hasDst && r.Source.Negated && !r.Destination.Negated && src == dst && r.Target.Name == "MASQUERADE" {
					add(dst, "weave", netip.Addr{}, r)
				}
			}
		}
	}
	return routes, evidence
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func abbreviateList(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(", … %d more", len(names)-max)
}
