package explain

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the report for people: the packet, one line per
// outcome with its probability as a percentage and the chain walk, then the
// rules that could not be evaluated.
func (r *Report) WriteTable(out io.Writer) error {
	p := r.Packet
	if _, err := fmt.Fprintf(out, "%s %s -> %s, from %s: %d outcome(s)\n", p.Proto, p.Src, p.Dst, p.From, len(r.Outcomes)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "%s\n\n", r.Interfaces.summary()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROBABILITY\tVERDICT\tTARGET\tSOURCE\tOUT\tPATH")
	for _, o := range r.Outcomes {
		target := "-"
		if o.Target != nil {
			target = o.Target.String()
		}
		outIface := o.OutInterface
		if outIface == "" {
			outIface = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", percent(o.Probability), o.Verdict, target, sourceText(o), outIface, strings.Join(o.Path, " -> "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.NotModelled) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(out, "\nNot modelled (these rules were treated as not matching):"); err != nil {
		return err
	}
	for _, n := range r.NotModelled {
		if _, err := fmt.Fprintf(out, "  line %d, %s %s: %s\n    %s\n", n.Line, n.Table, n.Chain, n.Reason, n.Rule); err != nil {
			return err
		}
	}
	return nil
}

// summary is one line (two with a note) on the interfaces of the walk.
func (i Interfaces) summary() string {
	var b strings.Builder
	b.WriteString("interfaces: ")
	if i.InSource == SourceNone {
		b.WriteString("sent by the node")
	} else {
		fmt.Fprintf(&b, "in %s (%s", i.In, i.InSource)
		if i.InSource == SourceInferred && i.CNI != "" {
			b.WriteString(" from " + i.CNI + "'s chains")
		}
		b.WriteString(")")
	}
	if i.OutSource == SourceOption {
		fmt.Fprintf(&b, ", out %s (option)", i.Out)
	} else {
		routes := []string{}
		for _, r := range i.Routes {
			routes = append(routes, r.Prefix+" via "+r.Interface)
		}
		routes = append(routes, "else "+i.Uplink)
		fmt.Fprintf(&b, ", out by route (%s)", strings.Join(routes, ", "))
	}
	if i.Note != "" {
		b.WriteString("\nnote: " + i.Note)
	}
	return b.String()
}

func percent(p float64) string {
	return fmt.Sprintf("%.4f%%", 100*p)
}

// sourceText says what happened to the source address.
func sourceText(o Outcome) string {
	switch {
	case o.Masquerade && o.SNAT != nil:
		return "masquerade to " + o.SNAT.String()
	case o.Masquerade:
		return "masquerade"
	case o.SNAT != nil:
		return "SNAT to " + o.SNAT.String()
	}
	return "kept"
}
