package explain

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// NFTRuleset is an nftables table as the walker reads it: kube-proxy's
// table of a node in nftables mode, parsed from `nft list ruleset` (or
// `nft list table ip kube-proxy`) text, or from nft -f input of the form
// kube-proxy sends and knftables' fake dumps ("add rule ip kube-proxy …",
// as `nlbsim rules --proxy-mode nftables` prints it).
type NFTRuleset struct {
	Family, Table string
	Chains        map[string]*NFTChain
	// Sets and maps by name: elements as key (parts joined by " . ") →
	// value ("" for a set's).
	Sets map[string]map[string]string
	// Others are the chains of the text's other tables (listings only),
	// for callers that name what they leave out; the walker ignores them.
	Others []NFTForeignChain
}

// NFTForeignChain is a chain of another table than kube-proxy's.
type NFTForeignChain struct {
	Family, Table, Chain string
	Line                 int
}

// NFTChain is one chain: a base chain has a hook and a priority.
type NFTChain struct {
	Name     string
	Line     int    // of its "chain" line in a listing, 0 when unknown
	Type     string // filter, nat (base chains)
	Hook     string
	Priority int
	Rules    []NFTRule
}

// NFTRule is one rule as tokens; Line is its line in the text.
type NFTRule struct {
	Tokens []string
	Text   string
	Line   int
}

// LooksLikeNFT reports whether text is nftables text (a table listing or
// nft -f input) rather than an iptables-save dump.
func LooksLikeNFT(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		return strings.HasPrefix(l, "table ") || strings.HasPrefix(l, "add ") || strings.HasPrefix(l, "flush ") ||
			strings.HasPrefix(l, "delete ") || strings.HasPrefix(l, "{")
	}
	return false
}

// ParseNFT reads the kube-proxy table (family ip) out of nftables text:
// `nft list ruleset` / `nft list table` output, or nft -f input. Other
// tables are skipped (the walker follows kube-proxy's).
func ParseNFT(text string) (*NFTRuleset, error) {
	if strings.HasPrefix(strings.TrimSpace(text), "{") {
		return parseNFTJSON(text)
	}
	rs := &NFTRuleset{Family: "ip", Table: "kube-proxy", Chains: map[string]*NFTChain{}, Sets: map[string]map[string]string{}}
	if isCommandForm(text) {
		return rs, rs.parseCommands(text)
	}
	return rs, rs.parseListing(text)
}

func isCommandForm(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			return !strings.HasPrefix(l, "table ")
		}
	}
	return false
}

func (rs *NFTRuleset) chain(name string) *NFTChain {
	c := rs.Chains[name]
	if c == nil {
		c = &NFTChain{Name: name}
		rs.Chains[name] = c
	}
	return c
}

// parseListing reads `nft list` output: nested blocks, one statement a line.
func (rs *NFTRuleset) parseListing(text string) error {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var (
		inTable                bool
		skipDepth              int
		otherFamily, other     string
		chain                  *NFTChain
		setName                string
		inElements             bool
		elements               strings.Builder
		lineNo, elementsLineNo int
	)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if skipDepth > 0 {
			if f := strings.Fields(line); skipDepth == 1 && len(f) >= 2 && f[0] == "chain" {
				rs.Others = append(rs.Others, NFTForeignChain{Family: otherFamily, Table: other, Chain: f[1], Line: lineNo})
			}
			skipDepth += strings.Count(line, "{") - strings.Count(line, "}")
			continue
		}
		if inElements {
			elements.WriteString(" " + line)
			if strings.HasSuffix(line, "}") {
				inElements = false
				rs.addElements(setName, strings.TrimSuffix(elements.String(), "}"))
			}
			continue
		}
		f := strings.Fields(line)
		switch {
		case !inTable && f[0] == "table":
			if len(f) >= 3 && f[1] == "ip" && f[2] == "kube-proxy" {
				inTable = true
			} else {
				skipDepth = strings.Count(line, "{") - strings.Count(line, "}")
				if len(f) >= 3 {
					otherFamily, other = f[1], f[2]
				}
			}
		case !inTable:
			return fmt.Errorf("line %d: %q outside a table", lineNo, line)
		case chain == nil && setName == "" && line == "}":
			inTable = false
		case chain == nil && setName == "" && f[0] == "chain" && len(f) >= 2:
			chain = rs.chain(f[1])
			if chain.Line == 0 {
				chain.Line = lineNo
			}
		case chain == nil && setName == "" && (f[0] == "set" || f[0] == "map") && len(f) >= 2:
			setName = f[1]
			if rs.Sets[setName] == nil {
				rs.Sets[setName] = map[string]string{}
			}
		case chain == nil && setName == "" && f[0] == "comment":
		case setName != "" && line == "}":
			setName = ""
		case setName != "" && strings.HasPrefix(line, "elements = {"):
			rest := strings.TrimPrefix(line, "elements = {")
			elementsLineNo = lineNo
			_ = elementsLineNo
			if strings.HasSuffix(rest, "}") {
				rs.addElements(setName, strings.TrimSuffix(rest, "}"))
			} else {
				inElements = true
				elements.Reset()
				elements.WriteString(rest)
			}
		case setName != "":
			// type, flags, timeout, size, comment
		case chain != nil && line == "}":
			chain = nil
		case chain != nil && f[0] == "type" && len(f) >= 6 && f[2] == "hook":
			chain.Type, chain.Hook = f[1], f[3]
			prio := strings.TrimSuffix(strings.TrimSpace(strings.SplitN(strings.SplitN(line, "priority", 2)[1], ";", 2)[0]), ";")
			p, err := parsePriority(prio)
			if err != nil {
				return fmt.Errorf("line %d: %v", lineNo, err)
			}
			chain.Priority = p
		case chain != nil && f[0] == "comment":
		case chain != nil:
			chain.Rules = append(chain.Rules, NFTRule{Tokens: tokenize(line), Text: line, Line: lineNo})
		default:
			return fmt.Errorf("line %d: unexpected %q", lineNo, line)
		}
	}
	return sc.Err()
}

// parseCommands reads nft -f input (add/flush/delete lines), applying it
// in order as nft would to an empty table.
func (rs *NFTRuleset) parseCommands(text string) error {
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return fmt.Errorf("line %d: %q is not an nft command", i+1, line)
		}
		verb, typ := f[0], f[1]
		if f[2] != "ip" || f[3] != "kube-proxy" {
			continue
		}
		name := ""
		if len(f) > 4 {
			name = f[4]
		}
		switch {
		case typ == "table" && verb == "delete":
			rs.Chains, rs.Sets = map[string]*NFTChain{}, map[string]map[string]string{}
		case typ == "table":
		case typ == "chain" && verb == "add":
			c := rs.chain(name)
			if j := strings.Index(line, "{"); j >= 0 {
				spec := strings.Fields(strings.NewReplacer("{", " ", "}", " ", ";", " ").Replace(line[j:]))
				for k := 0; k+1 < len(spec); k++ {
					switch spec[k] {
					case "type":
						c.Type = spec[k+1]
					case "hook":
						c.Hook = spec[k+1]
					case "priority":
						p, err := parsePriority(spec[k+1])
						if err != nil {
							return fmt.Errorf("line %d: %v", i+1, err)
						}
						c.Priority = p
					}
				}
			}
		case typ == "chain" && verb == "flush":
			rs.chain(name).Rules = nil
		case typ == "chain" && verb == "delete":
			delete(rs.Chains, name)
		case (typ == "set" || typ == "map") && verb == "add":
			if rs.Sets[name] == nil {
				rs.Sets[name] = map[string]string{}
			}
		case (typ == "set" || typ == "map") && verb == "flush":
			rs.Sets[name] = map[string]string{}
		case (typ == "set" || typ == "map") && verb == "delete":
			delete(rs.Sets, name)
		case typ == "rule" && verb == "add":
			body := strings.TrimSpace(strings.SplitN(line, name, 2)[1])
			c := rs.chain(name)
			c.Rules = append(c.Rules, NFTRule{Tokens: tokenize(body), Text: body, Line: i + 1})
		case typ == "element":
			j, k := strings.Index(line, "{"), strings.LastIndex(line, "}")
			if j < 0 || k < j {
				return fmt.Errorf("line %d: an element without braces", i+1)
			}
			if verb == "add" {
				rs.addElements(name, line[j+1:k])
			} else if verb == "delete" {
				for _, e := range splitTopLevel(line[j+1 : k]) {
					key, _ := elementKeyValue(e)
					delete(rs.Sets[name], key)
				}
			}
		}
	}
	return nil
}

// addElements adds "k1 . k2 : v, …" (comments allowed) to a set or map.
func (rs *NFTRuleset) addElements(set, text string) {
	if rs.Sets[set] == nil {
		rs.Sets[set] = map[string]string{}
	}
	for _, e := range splitTopLevel(text) {
		key, value := elementKeyValue(e)
		if key != "" {
			rs.Sets[set][key] = value
		}
	}
}

// splitTopLevel splits at commas outside quotes and braces.
func splitTopLevel(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '{':
			depth++
		case r == '}':
			depth--
		case r == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	out = append(out, s[start:])
	return out
}

// elementKeyValue normalises one element: "10.0.0.1 . tcp . 80 comment
// \"x\" : goto c" → ("10.0.0.1 . tcp . 80", "goto c").
func elementKeyValue(e string) (string, string) {
	toks := tokenize(e)
	var key, value []string
	inValue := false
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t == "comment" && i+1 < len(toks):
			i++
		case t == ":" && !inValue:
			inValue = true
		case t == "expires" || t == "timeout":
			i++
		case inValue:
			value = append(value, t)
		default:
			key = append(key, t)
		}
	}
	return strings.Join(key, " "), strings.Join(value, " ")
}

// tokenize splits a statement into words, keeping quoted strings whole and
// braces, commas and colons apart.
func tokenize(s string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			cur.WriteRune(r)
			if quoted {
				flush()
			}
			quoted = !quoted
		case quoted:
			cur.WriteRune(r)
		case r == ' ' || r == '\t':
			flush()
		case r == '{' || r == '}' || r == ',':
			flush()
			out = append(out, string(r))
		case r == ':':
			// "ip:port" in a dnat stays whole; a map's ":" stands alone.
			if cur.Len() > 0 && strings.Count(cur.String(), ".") == 3 {
				cur.WriteRune(r)
				continue
			}
			flush()
			out = append(out, ":")
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// parsePriority reads a base chain's priority: a number or a standard name
// with an offset ("dstnat - 10", "dstnat-10").
func parsePriority(s string) (int, error) {
	s = strings.ReplaceAll(s, " ", "")
	names := map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		if strings.HasPrefix(s, k) {
			base, rest := names[k], strings.TrimPrefix(s, k)
			if rest == "" {
				return base, nil
			}
			off, err := strconv.Atoi(rest)
			if err != nil {
				return 0, fmt.Errorf("priority %q", s)
			}
			return base + off, nil
		}
	}
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("priority %q", s)
	}
	return p, nil
}
