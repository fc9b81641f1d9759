package diff

import (
	"fmt"
	"strings"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/nat/ruleset"
	"github.com/nlbsim/nlbsim/topology"
)

// dispatchRule is a rule of a KUBE-SVC or KUBE-SVL chain that sends to an
// endpoint chain.
type dispatchRule struct {
	ruleRef
	sep         string
	probability string // as written, "" for the last (unconditional) rule
	affinity    bool   // a -m recent --rcheck rule
}

func dispatchOf(s *side, chain string) []dispatchRule {
	var out []dispatchRule
	for _, r := range rulesOf(s, "nat", chain) {
		t := r.rule.Target
		if t == nil || !t.Chain || !strings.HasPrefix(t.Name, "KUBE-SEP-") {
			continue
		}
		d := dispatchRule{ruleRef: r, sep: t.Name, affinity: r.rule.Match("recent") != nil}
		if m := r.rule.Match("statistic"); m != nil {
			d.probability = m.Option("probability").Arg()
		}
		out = append(out, d)
	}
	return out
}

// sepTarget is the DNAT destination of an endpoint chain, and its rule.
func sepTarget(s *side, sep string) (string, *ruleRef) {
	for _, r := range rulesOf(s, "nat", sep) {
		if t := r.rule.Target; t != nil && t.Name == "DNAT" {
			r := r
			return t.Option("to-destination").Arg(), &r
		}
	}
	return "", nil
}

// portOf finds the Service port whose chains carry hash (the suffix of a
// KUBE-SVC/SVL chain name): kube-proxy's port name and the port.
func (c *comparison) portOf(key, chain string) (string, topology.Service, topology.ServicePort, bool) {
	svc, ok := c.service(key)
	if !ok {
		return "", svc, topology.ServicePort{}, false
	}
	hash := chain[len("KUBE-SVC-"):]
	for _, p := range svc.Ports {
		name := nat.ServicePortName(svc, p)
		if strings.TrimPrefix(nat.ServiceChainName(name, p.Protocol), "KUBE-SVC-") == hash {
			return name, svc, p, true
		}
	}
	return "", svc, topology.ServicePort{}, false
}

// compareDispatch compares the endpoints a KUBE-SVC/SVL chain sends to on
// both sides, and their probabilities, and marks the rule differences these
// findings explain.
func (c *comparison) compareDispatch(key, chain string) []Finding {
	expD, realD := dispatchOf(c.exp, chain), dispatchOf(c.real, chain)
	portName, svc, port, known := c.portOf(key, chain)
	if !known {
		portName = key
	}
	seen := map[string]bool{}
	out, extra := c.realEndpoints(chain, portName, svc, port, known, expD, realD, seen)
	missing, lacking := c.missingEndpoints(chain, portName, expD, realD, seen)
	out = append(out, missing...)
	switch {
	case extra || lacking:
		c.explainEndpointChange(key, chain, expD, realD)
	case len(expD) == len(realD):
		out = append(out, c.compareProbabilities(chain, portName, expD, realD)...)
	}
	return out
}

// realEndpoints reports the endpoints the real chain sends to that the
// slices do not list as serving, and those whose KUBE-SEP DNATs elsewhere
// than the slices say; extra says whether the real chain has an endpoint
// the expected one lacks.
func (c *comparison) realEndpoints(chain, portName string, svc topology.Service, port topology.ServicePort, known bool, expD, realD []dispatchRule, seen map[string]bool) (out []Finding, extra bool) {
	inExp := map[string]bool{}
	for _, d := range expD {
		inExp[d.sep] = true
	}
	for _, d := range realD {
		if seen[d.sep] {
			continue
		}
		seen[d.sep] = true
		realTo, realRule := sepTarget(c.real, d.sep)
		if inExp[d.sep] {
			expTo, expRule := sepTarget(c.exp, d.sep)
			if realTo != expTo && realRule != nil && expRule != nil {
				out = append(out, Finding{Kind: KindEndpointTarget, Port: portName, Endpoint: expTo, Table: "nat", Chain: d.sep, Line: realRule.line, Rule: realRule.text,
					Message: fmt.Sprintf("%s (line %d) DNATs to %s, but the slices list the endpoint as %s (which its name is the hash of)", d.sep, realRule.line, realTo, expTo)})
				c.explained["real|nat|"+d.sep+"|"+realRule.canon] = true
				c.explained["exp|nat|"+d.sep+"|"+expRule.canon] = true
			}
			continue
		}
		extra = true
		c.explainedChain[d.sep] = true
		if c.reportedSEP[d.sep] {
			continue
		}
		c.reportedSEP[d.sep] = true
		line := 0
		if realRule != nil {
			line = realRule.line
		}
		out = append(out, Finding{Kind: KindEndpointNotServing, Port: portName, Endpoint: realTo, Table: "nat", Chain: d.sep, Line: line,
			Message: fmt.Sprintf("endpoint %s (%s, sent to from %s line %d) is in the rules, but %s", realTo, d.sep, chain, d.line, c.sliceSays(svc, port, known, realTo))})
	}
	return out, extra
}

// missingEndpoints reports the serving endpoints the real chain does not
// send to; lacking says whether there is one.
func (c *comparison) missingEndpoints(chain, portName string, expD, realD []dispatchRule, seen map[string]bool) (out []Finding, lacking bool) {
	inReal := map[string]bool{}
	for _, d := range realD {
		inReal[d.sep] = true
	}
	for _, d := range expD {
		if inReal[d.sep] || seen[d.sep] {
			continue
		}
		seen[d.sep] = true
		lacking = true
		c.explainedChain[d.sep] = true
		if c.reportedSEP[d.sep] {
			continue
		}
		c.reportedSEP[d.sep] = true
		expTo, _ := sepTarget(c.exp, d.sep)
		out = append(out, Finding{Kind: KindEndpointMissing, Port: portName, Endpoint: expTo, Table: "nat", Chain: d.sep,
			Message: fmt.Sprintf("endpoint %s is serving in the slices, but %s does not send to it (no %s)", expTo, chain, d.sep)})
	}
	return out, lacking
}

// explainEndpointChange marks what follows from an endpoint found extra or
// missing: the other dispatch rules' probabilities follow from the count,
// and a node whose last local endpoint went (or came) drops external
// traffic instead of (or after) sending it to KUBE-SVL.
func (c *comparison) explainEndpointChange(key, chain string, expD, realD []dispatchRule) {
	for _, d := range expD {
		c.explained["exp|nat|"+chain+"|"+d.canon] = true
	}
	for _, d := range realD {
		c.explained["real|nat|"+chain+"|"+d.canon] = true
	}
	if len(expD) == 0 || len(realD) == 0 {
		c.explainedChain[chain] = true
	}
	if !strings.HasPrefix(chain, "KUBE-SVL-") {
		return
	}
	for _, s := range []struct {
		side *side
		name string
		lost bool
	}{{c.exp, "exp", len(expD) == 0}, {c.real, "real", len(realD) == 0}} {
		if !s.lost {
			continue
		}
		for _, r := range sharedOf(s.side, key)["filter/KUBE-EXTERNAL-SERVICES"] {
			if strings.HasSuffix(r.rule.Comment(), "has no local endpoints") {
				c.explained[s.name+"|filter|KUBE-EXTERNAL-SERVICES|"+r.canon] = true
			}
		}
	}
}

// compareProbabilities reports the dispatch rules, endpoint for endpoint,
// whose probability is not the one kube-proxy writes for that count.
func (c *comparison) compareProbabilities(chain, portName string, expD, realD []dispatchRule) []Finding {
	var out []Finding
	for i := range expD {
		e, r := expD[i], realD[i]
		if e.sep != r.sep || e.affinity != r.affinity || e.canon == r.canon {
			continue
		}
		if sameProbability(e.probability, r.probability) {
			continue
		}
		ep, _ := sepTarget(c.exp, e.sep)
		want := e.probability
		if want == "" {
			want = "none (the last rule takes the rest)"
		}
		got := r.probability
		if got == "" {
			got = "none"
		}
		out = append(out, Finding{Kind: KindProbability, Port: portName, Endpoint: ep, Table: "nat", Chain: chain, Line: r.line, Rule: r.text,
			Message: fmt.Sprintf("%s line %d sends to %s with probability %s; kube-proxy writes %s for %d endpoints", chain, r.line, ep, got, want, countPlain(expD))})
		c.explained["exp|nat|"+chain+"|"+e.canon] = true
		c.explained["real|nat|"+chain+"|"+r.canon] = true
	}
	return out
}

func countPlain(ds []dispatchRule) int {
	n := 0
	for _, d := range ds {
		if !d.affinity {
			n++
		}
	}
	return n
}

func sameProbability(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	x, err1 := ruleset.ParseProbability(a)
	y, err2 := ruleset.ParseProbability(b)
	return err1 == nil && err2 == nil && x == y
}

// sliceSays tells what the EndpointSlices say of an endpoint the rules hold.
func (c *comparison) sliceSays(svc topology.Service, port topology.ServicePort, known bool, endpoint string) string {
	if !known {
		return "the Service has no such port in the objects"
	}
	host, _, _ := strings.Cut(endpoint, ":")
	var sameIP []topology.Endpoint
	for _, e := range c.w.Endpoints(svc, port) {
		if e.String() == endpoint {
			return fmt.Sprintf("the slices list it with ready=%t serving=%t terminating=%t, so kube-proxy would not use it", e.Ready, e.Serving, e.Terminating)
		}
		if e.IP.String() == host {
			sameIP = append(sameIP, e)
		}
	}
	if len(sameIP) > 0 {
		return fmt.Sprintf("the slices list %s on port %d", host, sameIP[0].Port)
	}
	return "no EndpointSlice of the Service lists it"
}
