package explain

import (
	"math/big"
	"net/netip"
)

// SchemaVersion is the version of the JSON document.
const SchemaVersion = 1

// Verdict is a packet's final fate.
type Verdict string

const (
	// VerdictDNAT: translated and let through.
	VerdictDNAT Verdict = "DNAT"
	// VerdictAccept: let through untranslated.
	VerdictAccept Verdict = "ACCEPT"
	VerdictDrop   Verdict = "DROP"
	VerdictReject Verdict = "REJECT"
)

// Report is what Walk finds; it marshals to explain -o json's document (schemaVersion 1).
type Report struct {
	SchemaVersion int           `json:"schemaVersion"`
	Packet        PacketSummary `json:"packet"`
	// Interfaces are the interfaces the walk used, and where they came from.
	Interfaces  Interfaces    `json:"interfaces"`
	Outcomes    []Outcome     `json:"outcomes"`
	NotModelled []NotModelled `json:"notModelled"`
}

// PacketSummary is the packet as the report shows it.
type PacketSummary struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Proto string `json:"proto"`
	From  Origin `json:"from"`
}

// Outcome is one fate of the packet. Outcomes with equal verdict, target,
// masquerade, snat and path are merged.
type Outcome struct {
	Verdict Verdict `json:"verdict"`
	// Target is the DNAT destination whenever one happened, also when the
	// packet was dropped later.
	Target *netip.AddrPort `json:"target"`
	// Probability is Exact rounded to float64.
	Probability float64 `json:"probability"`
	// Masquerade is set when a MASQUERADE target rewrote the source.
	Masquerade bool `json:"masquerade"`
	// SNAT is the source after POSTROUTING when SNAT applied, or when
	// MASQUERADE applied and the out interface's address is known (see
	// Options.NodeIPs); null otherwise.
	SNAT *netip.Addr `json:"snat"`
	// Path lists the hooks passed and, within them, the chains entered on the
	// way to each rule that acted (translated, marked or decided); chains
	// that were entered and left without effect are omitted.
	Path []string `json:"path"`
	// OutInterface is the interface the packet left by; empty when it was
	// delivered to the node itself or ended before routing.
	OutInterface string `json:"outInterface,omitempty"`
	// Exact is the probability as the exact product of kernel thresholds.
	Exact *big.Rat `json:"-"`
}

// NotModelled is a rule the walk reached but could not evaluate; it was
// treated as not matching.
type NotModelled struct {
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Line   int    `json:"line"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}
