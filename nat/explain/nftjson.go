package explain

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// parseNFTJSON reads `nft -j list ruleset` (or `nft -j list table ip
// kube-proxy`) output: the kube-proxy table's chains, sets, maps and
// rules, each rule's expressions rendered as the statements `nft list`
// prints, which the walker reads. An expression kube-proxy does not write
// is rendered as an unknown statement, which the walker lists as not
// modelled.
func parseNFTJSON(text string) (*NFTRuleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("nft -j output: %w", err)
	}
	rs := &NFTRuleset{Family: "ip", Table: "kube-proxy", Chains: map[string]*NFTChain{}, Sets: map[string]map[string]string{}}
	for i, obj := range doc.Nftables {
		for kind, raw := range obj {
			var o struct {
				Family string            `json:"family"`
				Table  string            `json:"table"`
				Name   string            `json:"name"`
				Chain  string            `json:"chain"`
				Type   string            `json:"type"`
				Hook   string            `json:"hook"`
				Prio   int               `json:"prio"`
				Elem   []json.RawMessage `json:"elem"`
				Expr   []json.RawMessage `json:"expr"`
			}
			if kind == "metainfo" {
				continue
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				// "type" of a map is a list: read it apart.
				var loose map[string]json.RawMessage
				if json.Unmarshal(raw, &loose) != nil {
					return nil, fmt.Errorf("nft -j output, object %d (%s): %w", i+1, kind, err)
				}
				_ = json.Unmarshal(loose["family"], &o.Family)
				_ = json.Unmarshal(loose["table"], &o.Table)
				_ = json.Unmarshal(loose["name"], &o.Name)
				_ = json.Unmarshal(loose["elem"], &o.Elem)
			}
			if o.Family != "ip" || o.Table != "kube-proxy" {
				if kind == "chain" {
					rs.Others = append(rs.Others, NFTForeignChain{Family: o.Family, Table: o.Table, Chain: o.Name, Line: i + 1})
				}
				continue
			}
			switch kind {
			case "chain":
				c := rs.chain(o.Name)
				if o.Hook != "" {
					c.Type, c.Hook, c.Priority = o.Type, o.Hook, o.Prio
				}
			case "set", "map":
				if rs.Sets[o.Name] == nil {
					rs.Sets[o.Name] = map[string]string{}
				}
				for _, e := range o.Elem {
					key, value := jsonElement(e)
					rs.Sets[o.Name][key] = value
				}
			case "rule":
				var parts []string
				for _, e := range o.Expr {
					parts = append(parts, jsonStatement(e))
				}
				line := strings.Join(parts, " ")
				c := rs.chain(o.Chain)
				c.Rules = append(c.Rules, NFTRule{Tokens: tokenize(line), Text: line, Line: i + 1})
			}
		}
	}
	return rs, nil
}

// jsonElement renders a set's element ("10.0.0.1", {"concat": […]}, an
// {"elem": {"val": …}} with a comment) or a map's [key, verdict] pair.
func jsonElement(raw json.RawMessage) (key, value string) {
	var pair []json.RawMessage
	if json.Unmarshal(raw, &pair) == nil && len(pair) == 2 {
		return jsonValue(pair[0]), jsonVerdict(pair[1])
	}
	return jsonValue(raw), ""
}

// jsonValue renders a value: a string or number, a concatenation, a
// prefix, an anonymous set, an element with a comment.
func jsonValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, len(list))
		for i, v := range list {
			parts[i] = jsonValue(v)
		}
		return "{ " + strings.Join(parts, " , ") + " }"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	switch {
	case m["concat"] != nil:
		var parts []json.RawMessage
		_ = json.Unmarshal(m["concat"], &parts)
		out := make([]string, len(parts))
		for i, p := range parts {
			out[i] = jsonValue(p)
		}
		return strings.Join(out, " . ")
	case m["prefix"] != nil:
		var p struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		}
		_ = json.Unmarshal(m["prefix"], &p)
		return p.Addr + "/" + strconv.Itoa(p.Len)
	case m["set"] != nil:
		return jsonValue(m["set"])
	case m["elem"] != nil:
		var e struct {
			Val json.RawMessage `json:"val"`
		}
		_ = json.Unmarshal(m["elem"], &e)
		return jsonValue(e.Val)
	}
	return jsonExpr(raw)
}

// jsonExpr renders an expression on the left of a match or as a key:
// payload fields, meta keys, ct state, fib, bitwise and, numgen.
func jsonExpr(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return jsonValue(raw)
	}
	for k, v := range m {
		switch k {
		case "payload":
			var p struct{ Protocol, Field string }
			_ = json.Unmarshal(v, &p)
			return p.Protocol + " " + p.Field
		case "meta":
			var p struct{ Key string }
			_ = json.Unmarshal(v, &p)
			return "meta " + p.Key
		case "ct":
			var p struct{ Key string }
			_ = json.Unmarshal(v, &p)
			return "ct " + p.Key
		case "fib":
			var p struct {
				Result string   `json:"result"`
				Flags  []string `json:"flags"`
			}
			_ = json.Unmarshal(v, &p)
			return "fib " + strings.Join(p.Flags, " . ") + " " + p.Result
		case "&", "|", "^":
			var args []json.RawMessage
			_ = json.Unmarshal(v, &args)
			if len(args) == 2 {
				return jsonExpr(args[0]) + " " + k + " " + jsonValue(args[1])
			}
		case "concat":
			var parts []json.RawMessage
			_ = json.Unmarshal(v, &parts)
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = jsonExpr(p)
			}
			return strings.Join(out, " . ")
		case "numgen":
			var p struct {
				Mode   string `json:"mode"`
				Mod    int    `json:"mod"`
				Offset int    `json:"offset"`
			}
			_ = json.Unmarshal(v, &p)
			return "numgen " + p.Mode + " mod " + strconv.Itoa(p.Mod)
		}
	}
	return "json-expression " + strconv.Quote(string(raw))
}

// jsonVerdict renders a verdict: goto/jump CHAIN, drop, accept, return.
func jsonVerdict(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return jsonValue(raw)
	}
	for k, v := range m {
		switch k {
		case "goto", "jump":
			var t struct{ Target string }
			_ = json.Unmarshal(v, &t)
			return k + " " + t.Target
		case "drop", "accept", "return", "continue":
			return k
		}
	}
	return "json-verdict " + strconv.Quote(string(raw))
}

// jsonStatement renders one statement of a rule as nft list prints it.
func jsonStatement(raw json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "json-statement " + strconv.Quote(string(raw))
	}
	for k, v := range m {
		switch k {
		case "match":
			var p struct {
				Op    string          `json:"op"`
				Left  json.RawMessage `json:"left"`
				Right json.RawMessage `json:"right"`
			}
			_ = json.Unmarshal(v, &p)
			left, right := jsonExpr(p.Left), jsonValue(p.Right)
			var flags []string
			if p.Op == "in" && json.Unmarshal(p.Right, &flags) == nil {
				right = strings.Join(flags, ",") // ct state new,established
			}
			switch {
			case strings.Contains(left, " & "):
				return left + " " + p.Op + " " + right // meta mark & 0x4000 == 0
			case p.Op == "==" || p.Op == "in":
				return left + " " + right
			default:
				return left + " " + p.Op + " " + right
			}
		case "vmap":
			var p struct {
				Key  json.RawMessage `json:"key"`
				Data json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(v, &p)
			var name string
			if json.Unmarshal(p.Data, &name) == nil {
				return jsonExpr(p.Key) + " vmap " + name
			}
			var set struct {
				Set [][]json.RawMessage `json:"set"`
			}
			_ = json.Unmarshal(p.Data, &set)
			var entries []string
			for _, e := range set.Set {
				if len(e) == 2 {
					entries = append(entries, jsonValue(e[0])+" : "+jsonVerdict(e[1]))
				}
			}
			return jsonExpr(p.Key) + " vmap { " + strings.Join(entries, " , ") + " }"
		case "mangle":
			var p struct {
				Key   json.RawMessage `json:"key"`
				Value json.RawMessage `json:"value"`
			}
			_ = json.Unmarshal(v, &p)
			return jsonExpr(p.Key) + " set " + jsonExpr(p.Value)
		case "dnat":
			var p struct {
				Addr string `json:"addr"`
				Port int    `json:"port"`
			}
			_ = json.Unmarshal(v, &p)
			return "dnat to " + p.Addr + ":" + strconv.Itoa(p.Port)
		case "masquerade":
			// {"flags": "fully-random"} or a list of flags.
			var p struct {
				Flags json.RawMessage `json:"flags"`
			}
			_ = json.Unmarshal(v, &p)
			var flags []string
			var one string
			if json.Unmarshal(p.Flags, &one) == nil {
				flags = []string{one}
			} else {
				_ = json.Unmarshal(p.Flags, &flags)
			}
			return strings.TrimSpace("masquerade " + strings.Join(flags, ","))
		case "reject":
			return "reject"
		case "set":
			var p struct {
				Op   string          `json:"op"`
				Elem json.RawMessage `json:"elem"`
				Set  string          `json:"set"`
			}
			_ = json.Unmarshal(v, &p)
			return p.Op + " " + p.Set + " { " + jsonExpr(p.Elem) + " }"
		case "counter":
			return "counter"
		case "goto", "jump", "drop", "accept", "return":
			return jsonVerdict(raw)
		}
	}
	return "json-statement " + strconv.Quote(string(raw))
}
