// Package netns is the kernel plumbing of nlbsim's hosts: named network
// namespaces (as ip-netns(8) keeps them), the sysctls written in each,
// running code and commands inside one without leaving the calling thread
// there, dialing and listening from inside one, and reading a namespace's
// conntrack table over netlink.
package netns
