package diff

import (
	"fmt"
	"io"
	"strings"
)

// WriteTable writes the report for people: the verdict, then each affected
// Service with its findings and packet outcomes, then the node's findings
// and what was left out.
func (r *Report) WriteTable(out io.Writer) error {
	var b strings.Builder
	if r.Agree {
		fmt.Fprintf(&b, "node %s (%s): kube-proxy's rules agree with the objects\n", r.Node, r.NodeIP)
	} else {
		fmt.Fprintf(&b, "node %s (%s): %d Service(s) and %d node finding(s) differ from what kube-proxy should have written\n",
			r.Node, r.NodeIP, len(r.Services), len(r.NodeFindings))
	}
	for _, s := range r.Services {
		fmt.Fprintf(&b, "\n%s: %s\n", s.Service, s.Status)
		for _, f := range s.Findings {
			fmt.Fprintf(&b, "  %-21s %s\n", f.Kind, f.Message)
		}
		for _, p := range s.Packets {
			state := "same outcomes"
			if !p.Agree {
				state = "DIFFERENT outcomes"
			}
			fmt.Fprintf(&b, "  packet %s %s -> %s from %s: %s\n", p.Packet.Proto, p.Packet.Src, p.Packet.Dst, p.Packet.From, state)
			if p.Error != "" {
				fmt.Fprintf(&b, "    %s\n", p.Error)
				continue
			}
			if !p.Agree {
				fmt.Fprintf(&b, "    real:     %s\n    expected: %s\n", outcomesText(p.Real), outcomesText(p.Expected))
			}
		}
	}
	if len(r.NodeFindings) > 0 {
		b.WriteString("\nnode:\n")
		for _, f := range r.NodeFindings {
			fmt.Fprintf(&b, "  %-21s %s\n", f.Kind, f.Message)
		}
	}
	if len(r.Ignored) > 0 {
		b.WriteString("\nleft out (other components' chains):")
		for _, ig := range r.Ignored {
			fmt.Fprintf(&b, " %s (%d)", ig.Component, len(ig.Chains))
		}
		b.WriteString("\n")
	}
	for _, a := range r.Assumed {
		fmt.Fprintf(&b, "assumed: %s\n", a)
	}
	if len(r.Unrecognised) > 0 {
		fmt.Fprintf(&b, "not recognised, not judged: %s\n", strings.Join(r.Unrecognised, ", "))
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func outcomesText(os []Outcome) string {
	if len(os) == 0 {
		return "none"
	}
	parts := make([]string, len(os))
	for i, o := range os {
		s := fmt.Sprintf("%.4f%% %s", 100*o.Probability, o.Verdict)
		if o.Target != "" {
			s += " " + o.Target
		}
		if o.Masquerade {
			s += " (masquerade)"
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}
