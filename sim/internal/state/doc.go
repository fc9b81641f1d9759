// Package state keeps a running cluster's state on disk under
// /run/nlbsim/<cluster>/: the world, the target groups' health, the
// supervisor's pid, log and control socket, and the event log; and the
// per-cluster lock that up, apply and down hold.
package state
