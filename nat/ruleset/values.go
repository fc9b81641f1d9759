package ruleset

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// PortRange is an inclusive port range; a single port has First == Last.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether port is in the range.
func (r PortRange) Contains(port uint16) bool {
	return r.First <= port && port <= r.Last
}

// ParsePortRange parses "80", "1000:2000", ":1024" or "1024:" (the tcp/udp
// modules' syntax).
func ParsePortRange(s string) (PortRange, error) {
	first, last, isRange := strings.Cut(s, ":")
	if !isRange {
		p, err := parsePort(s)
		return PortRange{p, p}, err
	}
	r := PortRange{0, math.MaxUint16}
	var err error
	if first != "" {
		if r.First, err = parsePort(first); err != nil {
			return r, err
		}
	}
	if last != "" {
		if r.Last, err = parsePort(last); err != nil {
			return r, err
		}
	}
	if r.First > r.Last {
		return r, fmt.Errorf("port range %q is reversed", s)
	}
	return r, nil
}

// ParsePortList parses a multiport list: "80,443,8000:8080".
func ParsePortList(s string) ([]PortRange, error) {
	var ranges []PortRange
	for _, part := range strings.Split(s, ",") {
		r, err := ParsePortRange(part)
		if err != nil {
			return nil, err
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

// Mark is a `value[/mask]` pair as the mark, connmark, MARK and CONNMARK
// extensions write it.
type Mark struct {
	Value, Mask uint32
}

// ParseMark parses "0x4000/0x4000" or "0x4000" (mask 0xffffffff). Numbers
// are hexadecimal with 0x, octal with a leading 0, decimal otherwise.
func ParseMark(s string) (Mark, error) {
	value, mask, hasMask := strings.Cut(s, "/")
	v, err := parseUint32(value)
	if err != nil {
		return Mark{}, fmt.Errorf("invalid mark %q", s)
	}
	m := uint32(math.MaxUint32)
	if hasMask {
		if m, err = parseUint32(mask); err != nil {
			return Mark{}, fmt.Errorf("invalid mark mask %q", s)
		}
	}
	return Mark{Value: v, Mask: m}, nil
}

// ParseMarkValue parses a single mark number (the argument of --or-mark,
// --nfmask, …).
func ParseMarkValue(s string) (uint32, error) {
	v, err := parseUint32(s)
	if err != nil {
		return 0, fmt.Errorf("invalid mark value %q", s)
	}
	return v, nil
}

func parseUint32(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 0, 32)
	return uint32(n), err
}

// ProbabilityScale is the kernel's fixed-point unit for `-m statistic
// --probability`: a probability p is stored as round(p * 2^31).
const ProbabilityScale = 1 << 31

// ParseProbability returns the kernel's threshold for a --probability
// argument: lround(0x80000000 * p), rounding halves away from zero as C's
// lround does. The packet matches with probability threshold / 2^31.
func ParseProbability(s string) (uint32, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || !(p >= 0 && p <= 1) {
		return 0, fmt.Errorf("invalid probability %q (want 0..1)", s)
	}
	return uint32(math.Round(ProbabilityScale * p)), nil
}

// ParsePrefix parses an address as -s/-d write it: "10.0.0.1", "10.0.0.0/8"
// or "10.0.0.0/255.0.0.0". The prefix is masked.
func ParsePrefix(s string) (netip.Prefix, error) {
	addrText, bits, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrText)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", s)
	}
	addr = addr.Unmap()
	if !hasBits {
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	n, err := strconv.Atoi(bits)
	if err != nil {
		if n, err = maskLength(bits, addr.BitLen()); err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid mask in %q: %v", s, err)
		}
	}
	p, err := addr.Prefix(n)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid prefix length in %q", s)
	}
	return p, nil
}

// maskLength turns a dotted mask into a prefix length; masks that are not
// contiguous cannot be a prefix and are refused.
func maskLength(s string, bitLen int) (int, error) {
	mask, err := netip.ParseAddr(s)
	if err != nil || mask.BitLen() != bitLen {
		return 0, fmt.Errorf("%q is not a mask", s)
	}
	bytes := mask.AsSlice()
	n, ended := 0, false
	for _, b := range bytes {
		for bit := 7; bit >= 0; bit-- {
			set := b&(1<<bit) != 0
			switch {
			case set && ended:
				return 0, fmt.Errorf("mask %q is not contiguous", s)
			case set:
				n++
			default:
				ended = true
			}
		}
	}
	return n, nil
}

// NATRange is a DNAT --to-destination or SNAT --to-source argument:
// "ip[-ip][:port[-port]]", where the address part may be empty (keep the
// address, change the port).
type NATRange struct {
	FirstAddr, LastAddr netip.Addr // invalid when the address is kept
	FirstPort, LastPort uint16     // 0 when the port is kept
}

// Single reports whether the range names exactly one address (or none) and
// at most one port, so the translation is certain.
func (r NATRange) Single() bool {
	return r.FirstAddr == r.LastAddr && r.FirstPort == r.LastPort
}

// ErrEmptyNATRange is a NAT range with neither an address nor a port, such
// as the ":0" iptables-save prints for a rule it could not decode.
var ErrEmptyNATRange = errors.New("empty NAT range")

// ParseNATRange parses a NAT target's address argument.
func ParseNATRange(s string) (NATRange, error) {
	var r NATRange
	addrs, ports := s, ""
	if strings.HasPrefix(s, "[") { // [v6]:port
		end := strings.Index(s, "]")
		if end < 0 {
			return r, fmt.Errorf("invalid NAT range %q", s)
		}
		addrs, ports = s[1:end], strings.TrimPrefix(s[end+1:], ":")
	} else if strings.Count(s, ":") == 1 {
		addrs, ports, _ = strings.Cut(s, ":")
	}
	if addrs != "" {
		first, last, isRange := strings.Cut(addrs, "-")
		var err error
		if r.FirstAddr, err = netip.ParseAddr(first); err != nil {
			return r, fmt.Errorf("invalid NAT address %q", s)
		}
		r.LastAddr = r.FirstAddr
		if isRange {
			if r.LastAddr, err = netip.ParseAddr(last); err != nil || r.LastAddr.Less(r.FirstAddr) {
				return r, fmt.Errorf("invalid NAT address range %q", s)
			}
		}
	}
	if ports != "" {
		first, last, isRange := strings.Cut(ports, "-")
		var err error
		if r.FirstPort, err = parsePort(first); err != nil {
			return r, fmt.Errorf("invalid NAT port in %q", s)
		}
		r.LastPort = r.FirstPort
		if isRange {
			if r.LastPort, err = parsePort(last); err != nil || r.LastPort < r.FirstPort {
				return r, fmt.Errorf("invalid NAT port range %q", s)
			}
		}
	}
	if !r.FirstAddr.IsValid() && r.FirstPort == 0 {
		return r, fmt.Errorf("%w %q: neither an address nor a port", ErrEmptyNATRange, s)
	}
	return r, nil
}

// ParseConntrackStates splits a --ctstate/--state list ("NEW,ESTABLISHED")
// into upper-case state names, refusing unknown ones.
func ParseConntrackStates(s string) ([]string, error) {
	return parseKeywords(s, conntrackStates)
}

// ParseAddressTypes splits an addrtype --src-type/--dst-type list
// ("LOCAL,UNICAST") into upper-case type names, refusing unknown ones.
func ParseAddressTypes(s string) ([]string, error) {
	return parseKeywords(s, addressTypes)
}

func parseKeywords(s string, allowed map[string]bool) ([]string, error) {
	names := strings.Split(strings.ToUpper(s), ",")
	for _, n := range names {
		if !allowed[n] {
			return nil, fmt.Errorf("unknown value %q in %q", n, s)
		}
	}
	return names, nil
}

var conntrackStates = map[string]bool{
	"INVALID": true, "NEW": true, "ESTABLISHED": true, "RELATED": true,
	"UNTRACKED": true, "SNAT": true, "DNAT": true,
}

var addressTypes = map[string]bool{
	"UNSPEC": true, "UNICAST": true, "LOCAL": true, "BROADCAST": true,
	"ANYCAST": true, "MULTICAST": true, "BLACKHOLE": true, "UNREACHABLE": true,
	"PROHIBIT": true, "THROW": true, "NAT": true, "XRESOLVE": true,
}
