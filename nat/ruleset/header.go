package ruleset

import (
	"net/netip"
	"strings"
)

// AddressMatch is `-s`/`-d`: the address is in one of the prefixes (or, when
// Negated, in none of them).
type AddressMatch struct {
	Negated  bool
	Prefixes []netip.Prefix
}

// Matches reports whether addr satisfies the match.
func (m *AddressMatch) Matches(addr netip.Addr) bool {
	in := false
	for _, p := range m.Prefixes {
		if p.Contains(addr) {
			in = true
			break
		}
	}
	return in != m.Negated
}

// InterfaceMatch is `-i`/`-o`; a trailing `+` matches every name with that
// prefix.
type InterfaceMatch struct {
	Negated bool
	Name    string
}

// Matches reports whether an interface name satisfies the match. An empty
// name (no such interface at this hook) never equals a pattern.
func (m *InterfaceMatch) Matches(name string) bool {
	var equal bool
	if prefix, wildcard := strings.CutSuffix(m.Name, "+"); wildcard {
		equal = name != "" && strings.HasPrefix(name, prefix)
	} else {
		equal = name == m.Name
	}
	return equal != m.Negated
}

// ProtocolMatch is `-p`. Name is lower case: a name such as "tcp", or the
// protocol number as written when it has no well-known name.
type ProtocolMatch struct {
	Negated bool
	Name    string
}

// Matches reports whether a protocol name ("tcp", "udp", …) satisfies the
// match. "all" matches every protocol.
func (m *ProtocolMatch) Matches(proto string) bool {
	return (m.Name == "all" || m.Name == proto) != m.Negated
}

// FragmentMatch is `-f`: the packet is a second or later fragment.
type FragmentMatch struct {
	Negated bool
}

var protocolNumbers = map[string]string{
	"0": "all", "1": "icmp", "6": "tcp", "17": "udp", "58": "icmpv6",
	"132": "sctp", "136": "udplite", "47": "gre", "50": "esp", "51": "ah",
}

// normalProtocol maps a `-p` argument to its canonical lower-case name.
func normalProtocol(s string) string {
	s = strings.ToLower(s)
	if name, ok := protocolNumbers[s]; ok {
		return name
	}
	return s
}
