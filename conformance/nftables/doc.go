// Package nftables is the nftables half of nlbsim's conformance suite:
// upstream kube-proxy v1.33's nftables proxier (k8s.io/kubernetes
// pkg/proxy/nftables), run over knftables' fake, beside nlbsim's
// nftables-mode kube-proxy (nat.NFTProxier) on the same worlds, compared
// transaction by transaction and table by table, object by object.
//
// It is a Go module of its own (k8s.io/kubernetes v1.33 cannot live in one
// module with the v1.30 the iptables half in ../ pins), driven by the same
// scripts/conformance.sh. nlbsim's side writes the worlds: nat's
// TestWriteConformanceWorlds in the main module.
package nftables
