// Package fabric wires a world's hosts as the AWS VPC CNI does: one
// namespace per host, a veth from each host to the VPC fabric's namespace
// and from each pod to its node (named eni + 11 hex digits), /32 addresses,
// on-link gateways, the pods' 169.254.1.1 gateway with a static neighbour,
// MTU 9001, and the routes that steer NLB flows' replies back to their NLB
// node. It also writes /etc/netns/<namespace>/{hosts,resolv.conf}.
package fabric
