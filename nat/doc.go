// Package nat holds what the kernel of each host is told. Its rule
// generation is pure and needs no root: KubeProxy gives a node's whole
// iptables ruleset (kube-proxy 1.30 in iptables mode, kubelet, the VPC CNI)
// as iptables-restore text, with the chain names and probabilities kube-proxy
// uses, and the answers of kube-proxy's health check servers.
package nat
