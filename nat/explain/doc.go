// Package explain walks the first packet of a TCP or UDP connection through
// an iptables ruleset, hook by hook as the kernel does, and reports every
// possible fate with its exact probability.
//
// Random choices (`-m statistic`) fork the walk; each branch carries the
// product of the kernel's fixed-point probabilities as an exact rational, so
// the outcomes of a service with n endpoints sum to exactly 1. Matches whose
// result depends on state the dump does not hold (ipsets, bridge ports,
// sockets, rate limits, …) are never guessed: the rule is treated as not
// matching and listed in Report.NotModelled.
package explain
