// Package conformance runs upstream kube-proxy's iptables proxier (v1.30,
// k8s.io/kubernetes/pkg/proxy/iptables) beside nlbsim and compares the
// iptables-restore input both write for the same worlds.
//
// It is its own Go module, so that nlbsim's main module never depends on
// k8s.io/kubernetes (whose staging modules pin an older k8s.io/api than
// nlbsim's). nlbsim's half lives in the main module (nat/conformance_test.go):
// it writes each world — Services, EndpointSlices, the node — as JSON with
// the restore input nlbsim generates for every sync; this module reads the
// files, feeds the objects to upstream's proxier over a fake iptables that
// records every restore input, and compares the two chain by chain; after
// each sync it also asks the health-check node port servers upstream's
// proxier runs and compares their answers with nlbsim's.
//
// Run it with scripts/conformance.sh, or cd conformance && go test ./...
package conformance
