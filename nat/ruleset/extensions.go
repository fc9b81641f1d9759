package ruleset

import (
	"errors"
	"fmt"
	"strconv"
)

// optionSpec says how many arguments an extension option takes and how to
// check them.
type optionSpec struct {
	args  int
	check func(args []string) error
}

type extension map[string]optionSpec

func flag() optionSpec                        { return optionSpec{args: 0} }
func text() optionSpec                        { return optionSpec{args: 1} }
func pair() optionSpec                        { return optionSpec{args: 2} }
func checked(f func(string) error) optionSpec { return optionSpec{args: 1, check: first(f)} }

func first(f func(string) error) func([]string) error {
	return func(args []string) error { return f(args[0]) }
}

func portRange(s string) error { _, err := ParsePortRange(s); return err }
func portList(s string) error  { _, err := ParsePortList(s); return err }
func mark(s string) error      { _, err := ParseMark(s); return err }
func markValue(s string) error { _, err := ParseMarkValue(s); return err }
func probability(s string) error {
	_, err := ParseProbability(s)
	return err
}
func prefix(s string) error { _, err := ParsePrefix(s); return err }
func natRange(s string) error {
	// iptables-restore takes ":0", and iptables-save prints it for a NAT
	// rule it cannot decode (one written by a newer iptables-nft): a rule
	// the evaluator cannot follow, not a bad dump.
	if _, err := ParseNATRange(s); err != nil && !errors.Is(err, ErrEmptyNATRange) {
		return err
	}
	return nil
}
func states(s string) error { _, err := ParseConntrackStates(s); return err }
func addrTypes(s string) error {
	_, err := ParseAddressTypes(s)
	return err
}
func positive(s string) error {
	if n, err := strconv.ParseUint(s, 10, 32); err != nil || n == 0 {
		return fmt.Errorf("invalid count %q", s)
	}
	return nil
}
func count(s string) error {
	if _, err := strconv.ParseUint(s, 10, 32); err != nil {
		return fmt.Errorf("invalid number %q", s)
	}
	return nil
}
func statisticMode(s string) error {
	if s != "random" && s != "nth" {
		return fmt.Errorf("unknown statistic mode %q", s)
	}
	return nil
}

var portOptions = extension{
	"dport": checked(portRange), "destination-port": checked(portRange),
	"sport": checked(portRange), "source-port": checked(portRange),
}

// matchExtensions are the match modules whose options the parser knows.
// Options of other modules are kept as written, taking every argument up to
// the next option.
var matchExtensions = map[string]extension{
	"tcp": merge(portOptions, extension{
		"syn": flag(), "tcp-flags": pair(), "tcp-option": checked(count),
	}),
	"udp":     portOptions,
	"udplite": portOptions,
	"sctp":    merge(portOptions, extension{"chunk-types": pair()}),
	"multiport": {
		"dports": checked(portList), "destination-ports": checked(portList),
		"sports": checked(portList), "source-ports": checked(portList),
		"ports": checked(portList),
	},
	"comment": {"comment": text()},
	"addrtype": {
		"src-type": checked(addrTypes), "dst-type": checked(addrTypes),
		"limit-iface-in": flag(), "limit-iface-out": flag(),
	},
	"conntrack": {
		"ctstate": checked(states), "ctproto": text(), "ctstatus": text(),
		"ctorigsrc": checked(prefix), "ctorigdst": checked(prefix),
		"ctreplsrc": checked(prefix), "ctrepldst": checked(prefix),
		"ctorigsrcport": checked(portRange), "ctorigdstport": checked(portRange),
		"ctreplsrcport": checked(portRange), "ctrepldstport": checked(portRange),
		"ctexpire": text(), "ctdir": text(),
	},
	"state":     {"state": checked(states)},
	"mark":      {"mark": checked(mark)},
	"connmark":  {"mark": checked(mark)},
	"statistic": {"mode": checked(statisticMode), "probability": checked(probability), "every": checked(positive), "packet": checked(count)},
	"recent": {
		"name": text(), "set": flag(), "rcheck": flag(), "update": flag(), "remove": flag(),
		"seconds": checked(count), "reap": flag(), "hitcount": checked(count), "rttl": flag(),
		"rsource": flag(), "rdest": flag(), "mask": text(),
	},
	"physdev": {
		"physdev-in": text(), "physdev-out": text(), "physdev-is-in": flag(),
		"physdev-is-out": flag(), "physdev-is-bridged": flag(),
	},
	"set": {
		"match-set": pair(), "return-nomatch": flag(), "update-counters": flag(),
		"update-subcounters": flag(), "packets-eq": text(), "packets-lt": text(),
		"packets-gt": text(), "bytes-eq": text(), "bytes-lt": text(), "bytes-gt": text(),
	},
	"iprange": {"src-range": text(), "dst-range": text()},
	"icmp":    {"icmp-type": text()},
	"pkttype": {"pkt-type": text()},
	"nfacct":  {"nfacct-name": text()},
	"owner": {
		"uid-owner": text(), "gid-owner": text(), "socket-exists": flag(), "suppl-groups": flag(),
	},
	"limit":  {"limit": text(), "limit-burst": checked(count)},
	"mac":    {"mac-source": text()},
	"length": {"length": text()},
	"socket": {"transparent": flag(), "nowildcard": flag(), "restore-skmark": flag()},
}

// knownMatchModules are the match modules iptables 1.8 ships (its
// extensions/libxt_*.c and libipt_*.c), with the aliases they register.
// iptables-restore refuses any other name ("Couldn't load match"), so the
// parser does too: `-m c` is a truncated paste, not a module to pass over.
var knownMatchModules = map[string]bool{
	"addrtype": true, "ah": true, "bpf": true, "cgroup": true, "cluster": true, "comment": true,
	"connbytes": true, "connlabel": true, "connlimit": true, "connmark": true, "conntrack": true,
	"cpu": true, "dccp": true, "devgroup": true, "dscp": true, "ecn": true, "esp": true,
	"hashlimit": true, "helper": true, "icmp": true, "ipcomp": true, "iprange": true, "ipvs": true,
	"length": true, "limit": true, "mac": true, "mark": true, "multiport": true,
	"nfacct": true, "osf": true, "owner": true, "physdev": true, "pkttype": true, "policy": true,
	"quota": true, "rateest": true, "realm": true, "recent": true, "rpfilter": true, "sctp": true,
	"set": true, "socket": true, "state": true, "statistic": true, "string": true, "tcp": true,
	"tcpmss": true, "time": true, "tos": true, "ttl": true, "u32": true, "udp": true,
	// ip6tables' own, which an ip6tables-save dump holds.
	"dst": true, "eui64": true, "frag": true, "hbh": true, "hl": true, "icmp6": true,
	"ipv6header": true, "mh": true, "rt": true, "srh": true,
}

// targetExtensions are the targets the parser knows, with their options.
var targetExtensions = map[string]extension{
	"ACCEPT": {}, "DROP": {}, "RETURN": {}, "NOTRACK": {},
	"DNAT": {
		"to-destination": checked(natRange), "random": flag(), "persistent": flag(), "random-fully": flag(),
	},
	"SNAT": {
		"to-source": checked(natRange), "random": flag(), "persistent": flag(), "random-fully": flag(),
	},
	"MASQUERADE": {"to-ports": text(), "random": flag(), "random-fully": flag()},
	"REDIRECT":   {"to-ports": text(), "random": flag()},
	"MARK": {
		"set-xmark": checked(mark), "set-mark": checked(mark), "and-mark": checked(markValue),
		"or-mark": checked(markValue), "xor-mark": checked(markValue),
	},
	"CONNMARK": {
		"set-xmark": checked(mark), "set-mark": checked(mark), "and-mark": checked(markValue),
		"or-mark": checked(markValue), "xor-mark": checked(markValue),
		"save-mark": flag(), "restore-mark": flag(), "nfmask": checked(markValue),
		"ctmask": checked(markValue), "mask": checked(markValue),
	},
	"REJECT": {"reject-with": text()},
	"LOG": {
		"log-prefix": text(), "log-level": text(), "log-tcp-sequence": flag(),
		"log-tcp-options": flag(), "log-ip-options": flag(), "log-uid": flag(), "log-macdecode": flag(),
	},
	"NFLOG": {
		"nflog-group": checked(count), "nflog-prefix": text(), "nflog-range": checked(count),
		"nflog-size": checked(count), "nflog-threshold": checked(count),
	},
	"CT":       {"notrack": flag(), "zone": text(), "helper": text(), "ctevents": text(), "expevents": text(), "timeout": text(), "zone-orig": text(), "zone-reply": text()},
	"TCPMSS":   {"set-mss": checked(count), "clamp-mss-to-pmtu": flag()},
	"CHECKSUM": {"checksum-fill": flag()},
	"TRACE":    {},
}

func merge(a, b extension) extension {
	m := extension{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}
