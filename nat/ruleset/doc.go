// Package ruleset is a typed model of iptables rulesets and a parser for the
// text iptables-save writes (and the iptables-restore input kube-proxy feeds
// the kernel, which uses the same grammar with freer option order).
//
// The model stays close to the text: every table, chain, rule, match module
// and target keeps its options as written, with the line it came from. Values
// that the kernel interprets (addresses, ports, marks, probabilities) are
// checked while parsing, so a bad value is reported with its line number, and
// can be read back typed with the helpers in values.go.
package ruleset
