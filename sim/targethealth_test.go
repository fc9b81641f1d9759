package sim_test

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// targetHistory polls the target groups until stop and records, per
// target address, each state and reason it went through, in order.
func targetHistory(t *testing.T, cluster string, stop <-chan struct{}) <-chan map[string][]string {
	out := make(chan map[string][]string, 1)
	go func() {
		seen := map[string][]string{}
		for done := false; ; {
			targets, err := sim.LoadTargets(cluster)
			if err == nil {
				for _, tg := range targets {
					k, v := tg.Addr().String(), string(tg.State)+"/"+tg.Reason
					if h := seen[k]; len(h) == 0 || h[len(h)-1] != v {
						seen[k] = append(h, v)
					}
				}
			}
			if done {
				out <- seen
				return
			}
			select {
			case <-stop:
				done = true // one last look
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return out
}

// A new target is initial with Elb.RegistrationInProgress, then
// Elb.InitialHealthChecking, and healthy only after the healthy threshold
// of passing rounds; at up every target has gone the same way.
func TestTargetRegistrationStates(t *testing.T) {
	const scale = 20 // interval 10 s → 500 ms
	c := simtest.Up(t, simtest.TimeScale(scale))
	targets, err := sim.LoadTargets(c.World.Cluster.Name)
	require.NoError(t, err)
	require.Len(t, targets, 3)
	for _, tg := range targets {
		assert.Equal(t, topology.TargetHealthy, tg.State, "up returns once every target passed the healthy threshold")
	}
	events, _, err := sim.ReadEvents(c.World.Cluster.Name, 0)
	require.NoError(t, err)
	healthy := map[string]bool{}
	for _, e := range events {
		if e.Reason == "TargetHealthy" {
			healthy[strings.Fields(e.Message)[0]] = true
		}
	}
	assert.Len(t, healthy, 3, "every target became healthy through the threshold, with an event")

	stop := make(chan struct{})
	history := targetHistory(t, c.World.Cluster.Name, stop)
	do(t, c, sim.Action{Verb: sim.VerbScale, Name: topology.AppDeployment, Replicas: 4})
	var added string
	eventually(t, 10*time.Second, "the fourth target turning healthy", func() bool {
		targets, err := sim.LoadTargets(c.World.Cluster.Name)
		require.NoError(t, err)
		for _, tg := range targets {
			if !slices.ContainsFunc(c.World.Pods, func(p topology.Pod) bool { return p.IP == tg.IP }) {
				added = tg.Addr().String()
				return tg.State == topology.TargetHealthy
			}
		}
		return false
	})
	close(stop)
	got := (<-history)[added]
	assert.Equal(t, []string{
		"initial/Elb.RegistrationInProgress",
		"initial/Elb.InitialHealthChecking",
		"healthy/",
	}, got, "target %s", added)
}

// An NLB gives one unhealthy reason, Target.FailedHealthChecks, whether the
// check timed out, was refused or met an HTTP 503; the event names what
// the last check met.
func TestUnhealthyReasonIsFailedHealthChecks(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(20))
	for _, how := range []string{"hang", "refuse"} {
		pod := map[string]string{"hang": "pod-2", "refuse": "pod-3"}[how]
		h, err := c.World.Lookup(pod)
		require.NoError(t, err)
		p, _ := c.World.Pod(h.Name)
		do(t, c, sim.Action{Verb: sim.VerbFailPod, Name: pod, How: how})
		eventually(t, 10*time.Second, pod+" turning unhealthy", func() bool {
			targets, err := sim.LoadTargets(c.World.Cluster.Name)
			require.NoError(t, err)
			for _, tg := range targets {
				if tg.IP == p.IP && tg.State == topology.TargetUnhealthy {
					assert.Equal(t, "Target.FailedHealthChecks", tg.Reason)
					assert.Equal(t, "Health checks failed", tg.Description)
					return true
				}
			}
			return false
		})
		events, _, err := sim.ReadEvents(c.World.Cluster.Name, 0)
		require.NoError(t, err)
		want := map[string]string{"hang": "last check: timed out", "refuse": "last check: connection refused"}[how]
		assert.True(t, slices.ContainsFunc(events, func(e sim.Event) bool {
			return e.Reason == "TargetUnhealthy" && strings.HasPrefix(e.Message, fmt.Sprintf("%s:7777 ", p.IP)) && strings.Contains(e.Message, want)
		}), "an event says %q for %s", want, p.IP)
	}
}

// An HTTP health check carries the NLB node's private address and the
// listener port as its Host header, as AWS documents.
func TestHTTPHealthCheckHostHeader(t *testing.T) {
	c := simtest.Up(t, simtest.TimeScale(20), simtest.Mode(topology.TargetInstance), simtest.ExternalTrafficPolicy(topology.PolicyLocal))
	svc, _ := c.World.Service(topology.AppNamespace, topology.AppService)
	out := runInAllowFail(t, c, "node-1", "timeout", "3", "tcpdump", "-i", "eth0", "-nn", "-A", "-l",
		fmt.Sprintf("tcp dst port %d and tcp[tcpflags] & tcp-push != 0", svc.HealthCheckNodePort))
	hosts := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, "Host: "); i >= 0 {
			hosts[strings.TrimSpace(line[i+len("Host: "):])] = true
		}
	}
	assert.Equal(t, map[string]bool{"192.168.1.51:7777": true, "192.168.2.149:7777": true, "192.168.3.171:7777": true}, hosts,
		"every NLB node's checks name it and the listener port")
}

// runInAllowFail runs a command in a host's namespace and returns its
// output whatever its exit status (timeout ends tcpdump with 124).
func runInAllowFail(t *testing.T, c *sim.Cluster, host string, args ...string) string {
	t.Helper()
	h, err := c.World.Lookup(host)
	require.NoError(t, err)
	out, _ := exec.Command("ip", append([]string{"netns", "exec", h.Namespace}, args...)...).Output()
	return string(out)
}
