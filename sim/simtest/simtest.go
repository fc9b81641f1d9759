// Package simtest starts nlbsim clusters from Go tests: named after the
// test, torn down by t.Cleanup (or kept with NLBSIM_KEEP=1), skipped without
// root except in CI, where a skip would hide a failure.
package simtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// RequireRoot skips a test that needs root when not root, and fails it
// instead when CI is set: in CI every kernel test must run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root (network namespaces, iptables), and CI is set: in CI it must run, not skip")
	}
	t.Skip("needs root: it builds network namespaces (run with sudo, e.g. sudo go test ./...)")
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// processToken is unique to this test process: two runs of a suite on one
// machine, or a suite beside a user's clusters, never share a cluster.
var processToken = func() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}()

// ClusterName derives a cluster name from the test's name and this process:
// a DNS label of at most 20 characters ending in a short hash of both, so
// parallel tests and parallel runs never collide. Within one process a test
// gets the same name each time.
func ClusterName(t testing.TB) string {
	sum := sha256.Sum256([]byte(t.Name() + "\x00" + processToken))
	hash := hex.EncodeToString(sum[:])[:6]
	base := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	base = strings.TrimPrefix(base, "test")
	base = strings.Trim(base, "-")
	if max := topology.MaxClusterNameLen - len(hash) - 1; len(base) > max {
		base = strings.Trim(base[:max], "-")
	}
	if base == "" {
		return "t-" + hash
	}
	return base + "-" + hash
}

// Option changes the spec of a test cluster, as a flag of `nlbsim up` would.
type Option func(*topology.Spec)

// Mode sets the NLB target type.
func Mode(m topology.TargetType) Option { return func(s *topology.Spec) { s.Mode = m } }

// Nodes sets the number of worker nodes.
func Nodes(n int) Option { return func(s *topology.Spec) { s.Nodes = n } }

// Replicas sets the replicas of nginx-deployment.
func Replicas(n int) Option { return func(s *topology.Spec) { s.Replicas = n } }

// Minimal leaves out the add-ons.
func Minimal() Option { return func(s *topology.Spec) { s.Minimal = true } }

// ExternalTrafficPolicy sets the LoadBalancer Service's policy.
func ExternalTrafficPolicy(p topology.TrafficPolicy) Option {
	return func(s *topology.Spec) { s.ExternalTrafficPolicy = p }
}

// DefaultTimeScale is the time scale of a test cluster without a
// TimeScale option: Up returns when every NLB target has passed its health
// checks' thresholds, which at AWS's timers takes about 40 s.
const DefaultTimeScale = 10

// Up starts a cluster for a test with the supervisor in the test process,
// and removes it when the test ends unless NLBSIM_KEEP=1. Its timers run
// DefaultTimeScale times faster unless a TimeScale option says otherwise.
func Up(t testing.TB, opts ...Option) *sim.Cluster {
	t.Helper()
	RequireRoot(t)
	spec := topology.DefaultSpec()
	spec.Name = ClusterName(t)
	spec.TimeScale = DefaultTimeScale
	for _, o := range opts {
		o(&spec)
	}
	sim.RemoveOrphans()
	c, err := sim.Up(context.Background(), spec, sim.Options{InProcess: true})
	if err != nil {
		t.Fatalf("nlbsim up %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		saveIfFailed(t, spec.Name)
		if os.Getenv("NLBSIM_KEEP") == "1" {
			t.Logf("NLBSIM_KEEP=1: cluster %q kept (its servers end with the test: sudo nlbsim up --name %s restarts them; sudo nlbsim down --name %s removes it)", spec.Name, spec.Name, spec.Name)
			return
		}
		if err := c.Down(); err != nil {
			t.Errorf("nlbsim down %s: %v", spec.Name, err)
		}
	})
	return c
}

// ProxyMode sets kube-proxy's mode (iptables or nftables).
func ProxyMode(m topology.ProxyMode) Option { return func(s *topology.Spec) { s.ProxyMode = m } }

// CrossZone sets the NLB's cross-zone load balancing.
func CrossZone(on bool) Option { return func(s *topology.Spec) { s.CrossZone = &on } }

// PreserveClientIP sets the target group's preserve_client_ip.enabled.
func PreserveClientIP(on bool) Option { return func(s *topology.Spec) { s.PreserveClientIP = &on } }

// TimeScale divides every AWS and Kubernetes timer by f.
func TimeScale(f float64) Option { return func(s *topology.Spec) { s.TimeScale = f } }

// Manifests gives the cluster manifests, as `up -f` does: their Deployments
// and Services replace the walkthrough's, and the target mode and traffic
// policy come from their annotations unless a Mode or
// ExternalTrafficPolicy option follows this one. It panics when a file
// cannot be read.
func Manifests(paths ...string) Option {
	ms, err := topology.ReadManifests(paths)
	if err != nil {
		panic("simtest.Manifests: " + err.Error())
	}
	return func(s *topology.Spec) {
		s.Manifests = ms
		s.Mode, s.ExternalTrafficPolicy = "", ""
	}
}

// InstanceType sets the nodes' EC2 instance type (their VPC CNI pod limit).
func InstanceType(t string) Option { return func(s *topology.Spec) { s.InstanceType = t } }

// Services adds n ClusterIP Services with perService endpoints each (0: 10)
// whose endpoints never answer: a big node ruleset.
func Services(n, perService int) Option {
	return func(s *topology.Spec) { s.Services, s.EndpointsPerService = n, perService }
}

// From rebuilds a real cluster from its objects, as `up --from` does
// (`kubectl get nodes,services,endpointslices,pods -A -o yaml`, optionally
// the kube-proxy ConfigMap); the target mode and traffic policy come from
// its Services unless a Mode or ExternalTrafficPolicy option follows this
// one. It panics when a file cannot be read.
func From(paths ...string) Option {
	ms, err := topology.ReadManifests(paths)
	if err != nil {
		panic("simtest.From: " + err.Error())
	}
	return func(s *topology.Spec) {
		s.From = ms
		s.Mode, s.ExternalTrafficPolicy = "", ""
	}
}
