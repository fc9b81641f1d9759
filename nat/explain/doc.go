// Package explain walks the first packet of a TCP, UDP or SCTP connection
// through an iptables ruleset, hook by hook as the kernel does, and reports
// every possible fate with its exact probability. The three protocols are
// walked alike: `-p` and the tcp, udp and sctp modules match their own
// protocol only, multiport all three.
//
// # The walk
//
// A packet from a pod or from outside passes raw, mangle and nat
// PREROUTING; the routing decision then sends it to INPUT (mangle, filter,
// security, nat) when its destination is a node address (Options.NodeIPs,
// 127.0.0.0/8), or through FORWARD (mangle, filter, security) and
// POSTROUTING (mangle, nat). A packet from the node passes raw, mangle, nat,
// filter and security OUTPUT, is rerouted after a DNAT, passes POSTROUTING
// and, when it is for the node itself, comes back through lo to raw and
// mangle PREROUTING and INPUT. Built-in chains end in their policy; jumps,
// gotos, RETURN and user chains that fall through behave as in the kernel;
// rulesets whose chains form a loop are refused, as the kernel refuses to
// load them.
//
// # What a first packet is
//
// Its conntrack state is NEW (DNAT and SNAT join once the walk translated
// it, UNTRACKED replaces it after NOTRACK or CT --notrack, which also skips
// nat); it is no fragment and, for TCP, a SYN. Packet and connection marks
// start at 0 and follow MARK and CONNMARK. `-m recent --rcheck/--update/
// --remove` fail, since the client is in no list yet, unless this same
// packet was added with --set earlier on its way.
//
// # Probabilities
//
// `-m statistic --mode random --probability p` matches with the kernel's
// fixed-point chance lround(2^31·p)/2^31, so the three endpoints of a
// kube-proxy service get 715827883/2^31, then half of the rest each. `--mode
// nth --every n` is weighted 1/n, its long-run share. Each random rule forks
// the walk; branch weights are exact rationals (Outcome.Exact) and outcomes
// with equal verdict, target, masquerade, snat and path are merged.
//
// # Interfaces, addresses and MASQUERADE
//
// A pod's packet arrives on Packet.InInterface, by default DefaultPodInterface
// (eni0, a VPC CNI host-side veth); an external one on the uplink
// (Options.Uplink, eth0). Packets leave through Packet.OutInterface when
// set, else through the uplink unless an Options.Routes entry names another
// interface. With Options.InferInterfaces the dump's own CNI chains fill in
// what the caller left unset (InferInterfaces: docker0, cbr0, cni0 and
// flannel.1, weave, cali…, lxc…, eni…), only where they are unambiguous;
// Report.Interfaces says what was used and where it came from. Node IPs are assigned to
// the uplink and loopback addresses to lo, which is what addrtype
// --limit-iface-in/out test. MASQUERADE sets Outcome.Masquerade; its
// Outcome.SNAT is the out route's Source or, failing that, the first node
// IP, and null when no node IP is given: the evaluator never invents an
// address.
//
// # Not modelled
//
// Matches whose result depends on what a dump does not hold (ipsets,
// bridge ports, socket owners, rate limits, payload, the source port when
// Packet.SrcPort is 0, …) and targets whose effect it cannot know (NFQUEUE,
// TPROXY, NAT to a range, the `--to-destination :0` iptables-save prints
// for a rule it could not decode, …) are never guessed: the rule is treated
// as not matching, and it is listed in Report.NotModelled with its line and
// the reason; the rest of the dump is walked. What iptables-restore would
// refuse is refused earlier, by the parser (ruleset.ParseErrors). Targets that only log, count or rewrite header fields the walk
// does not track (LOG, NFLOG, TCPMSS, …) are passed over.
package explain
