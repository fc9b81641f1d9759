// Package ui serves nlbsim's live lab to a browser (`nlbsim ui`): one page,
// embedded in the binary, that shows a running cluster as `graph` models it
// — with the NLB's targets and their health, each node's Service rules with
// live counters, the event timeline and every traffic and trace run — and
// lets a person change the cluster through the same API the CLI calls
// (sim.Do, sim.Up).
//
// The server polls the cluster's state files at a modest rate and pushes
// what changed to every page over server-sent events. Reading needs
// nothing; every change needs the per-run token printed in the URL and a
// matching Origin, so another web page in the same browser cannot drive it.
// It never runs a shell or a command given by the page.
package ui
