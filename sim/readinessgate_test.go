package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// rolloutUnderTraffic rolls the Deployment out as 5,000 requests start
// and returns their report.
func rolloutUnderTraffic(t *testing.T, c *sim.Cluster) *sim.TrafficReport {
	t.Helper()
	chaos, err := sim.ParseChaos("rollout@0%")
	require.NoError(t, err)
	w, err := sim.LoadWorld(c.World.Cluster.Name)
	require.NoError(t, err)
	start := time.Now()
	defer func() { t.Logf("5,000 requests in %s", time.Since(start).Round(time.Millisecond)) }()
	report, err := sim.Traffic(context.Background(), w, sim.TrafficOptions{Requests: 5000, Concurrency: 8, Chaos: &chaos, Timeout: 2 * time.Second})
	require.NoError(t, err)
	return report
}

// In ip mode a rollout without readiness gates leaves the NLB with no
// target it may use (the old ones drain, the new ones are still initial):
// requests fail. With the Load Balancer Controller's readiness gates, a
// new pod is Ready only once its target is healthy, so the rollout waits
// for it and no request fails.
func TestRolloutWithAndWithoutReadinessGates(t *testing.T) {
	const scale = 100 // health checks every 100 ms
	var errs [2][]int
	for i, files := range [][]string{{"testdata/rollout_gates.yaml"}, {"testdata/rollout_gates.yaml", "testdata/rollout_gates_ns.yaml"}} {
		gates := i == 1
		t.Run(map[bool]string{false: "without gates", true: "with gates"}[gates], func(t *testing.T) {
			c := simtest.Up(t, simtest.Manifests(files...), simtest.TimeScale(scale))
			up, err := sim.LoadWorld(c.World.Cluster.Name)
			require.NoError(t, err)
			for _, p := range up.Pods {
				if p.Owner == topology.AppDeployment {
					assert.Equal(t, gates, len(p.ReadinessGates) == 1, "gates injected: %v", p.ReadinessGates)
					assert.True(t, p.GatesMet() || !gates, "at up the gates open once the targets are healthy")
				}
			}
			report := rolloutUnderTraffic(t, c)
			errs[i] = report.ErrorsOverTime
			t.Logf("readiness gates %-5v: %d of %d requests failed; per tenth of the run: %v (%v)", gates, report.Errors, report.Requests, report.ErrorsOverTime, report.ErrorsByKind)
			if gates {
				assert.Zero(t, report.Errors, "with readiness gates no request fails")
				// The run can end before the rollout does (each new pod
				// waits for its target's health checks): requests go on
				// until no old pod is left, so every moment of it is checked.
				deadline := time.Now().Add(30 * time.Second)
				for {
					w, err := sim.LoadWorld(c.World.Cluster.Name)
					require.NoError(t, err)
					d, _ := w.Deployment(topology.AppNamespace, topology.AppDeployment)
					if len(w.OldPods(d)) == 0 {
						break
					}
					require.True(t, time.Now().Before(deadline), "the rollout did not complete in 30 s: %v left", w.OldPods(d))
					more, err := sim.Traffic(context.Background(), w, sim.TrafficOptions{Requests: 500, Concurrency: 8, Timeout: 2 * time.Second})
					require.NoError(t, err)
					assert.Zero(t, more.Errors, "with readiness gates no request fails while the rollout goes on: %v", more.ErrorsByKind)
				}
			} else {
				assert.Positive(t, report.Errors, "without readiness gates the rollout leaves no usable target for a while")
			}
		})
	}
	t.Logf("failed requests per tenth, without gates %v, with gates %v", errs[0], errs[1])
}
