package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/echo"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// probeTimeout bounds the wait for one answer while checking a new cluster
// (and the wait for the NLB's provisioning beyond its health-check rounds).
const probeTimeout = 10 * time.Second

// probe checks every serving pod, control-plane ENI and node health server
// from the bastion, through the data path, so that Up returns only when a
// first request to any of them succeeds.
func (c *Cluster) probe(ctx context.Context) error {
	w := c.World
	bastion, err := netns.Open(topology.Namespace(w.Cluster.Name, w.Bastion.Name))
	if err != nil {
		return err
	}
	defer bastion.Close()
	client := netns.HTTPClient(bastion, 2*time.Second, false)
	type check struct{ what, url, wantPod string }
	var checks []check
	for _, p := range w.Pods {
		if !p.Running() || p.Serves != topology.ServesHTTP {
			continue
		}
		for _, port := range p.Ports {
			if port.Protocol == "TCP" {
				checks = append(checks, check{"pod " + p.Name, fmt.Sprintf("http://%s/", net.JoinHostPort(p.IP.String(), fmt.Sprint(port.Port))), p.Name})
			}
		}
	}
	for _, cp := range w.ControlPlane {
		checks = append(checks, check{cp.Name, fmt.Sprintf("http://%s:443/", cp.IP), cp.Name})
	}
	for _, n := range w.Nodes {
		checks = append(checks, check{n.Name + " kube-proxy health", fmt.Sprintf("http://%s:%d/healthz", n.IP, w.Cluster.KubeProxy.HealthzPort), ""})
	}

	fullBefore := neighbourTableFulls()
	// Each check has probeTimeout of its own, so that a big world's
	// thousands of checks are not bound by one budget; the first check that
	// fails ends the others.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, 16)
	)
	for _, ch := range checks {
		select {
		case sem <- struct{}{}:
		case <-pctx.Done():
		}
		if pctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, ccancel := context.WithTimeout(pctx, probeTimeout)
			defer ccancel()
			if err := probeOne(cctx, client, ch.url, ch.wantPod); err != nil && pctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s (%s): %v", ch.what, ch.url, err))
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil {
		return ctx.Err()
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster %q is not answering through the data path%s: %s", w.Cluster.Name, neighbourTableFull(fullBefore), strings.Join(errs, "; "))
	}
	return c.waitProvisioned(ctx)
}

// neighbourTableFulls is how often the kernel's ARP table refused a new
// entry because it was full (the sum over CPUs of table_fulls in
// /proc/net/stat/arp_cache), or -1 when it cannot be read.
func neighbourTableFulls() int64 {
	b, err := os.ReadFile("/proc/net/stat/arp_cache")
	if err != nil {
		return -1
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	col := slices.Index(strings.Fields(lines[0]), "table_fulls")
	if col < 0 {
		return -1
	}
	var sum int64
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if col < len(f) {
			n, _ := strconv.ParseInt(f[col], 16, 64)
			sum += n
		}
	}
	return sum
}

// neighbourTableFull names the kernel's limit when the ARP table refused
// entries since before: one table for every network namespace, bounded by
// net.ipv4.neigh.default.gc_thresh3, which only the root namespace can
// change (and nlbsim never changes it). A world whose data path needs more
// neighbours than that at once cannot answer.
func neighbourTableFull(before int64) string {
	after := neighbourTableFulls()
	if before < 0 || after <= before {
		return ""
	}
	limit, _ := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
	return fmt.Sprintf(" (the kernel's neighbour table was full %d times: one ARP table serves every network namespace, "+
		"and net.ipv4.neigh.default.gc_thresh3 = %s entries bounds it — a limit of the machine, set in its root namespace, "+
		"which nlbsim does not change)", after-before, strings.TrimSpace(string(limit)))
}

// waitProvisioned waits until no NLB target is initial any more: every
// registration has ended and every target has met its healthy or unhealthy
// threshold, at the world's time scale (the NLB's provisioning). It takes
// the target group's timers: at time scale 1, the default TCP health check
// needs three 10 s rounds after registration. It allows twice the rounds a
// threshold needs: on a loaded machine a round can time out and restart a
// target's count (a test's up at time scale 10 once failed so).
func (c *Cluster) waitProvisioned(ctx context.Context) error {
	w := c.World
	var bound time.Duration
	poll := 20 * time.Millisecond
	for _, lb := range w.LoadBalancers {
		hc := lb.HealthCheck
		rounds := time.Duration(2 * (max(hc.HealthyThreshold, hc.UnhealthyThreshold) + 2))
		bound = max(bound, scaledBy(rounds*hc.Interval, w.Spec.TimeScale))
		// Look a few times per round: at a high time scale a round is
		// shorter than 20 ms.
		poll = min(poll, max(time.Millisecond, scaledBy(hc.Interval, w.Spec.TimeScale)/4))
	}
	if bound == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, bound+probeTimeout)
	defer cancel()
	for {
		targets, err := LoadTargets(w.Cluster.Name)
		if err != nil {
			return err
		}
		var initial []string
		for _, t := range targets {
			if t.State == topology.TargetInitial {
				initial = append(initial, t.Addr().String())
			}
		}
		if len(initial) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %q: NLB targets still initial after their health checks' thresholds: %s", w.Cluster.Name, strings.Join(initial, ", "))
		case <-time.After(poll):
		}
	}
}

// scaledBy divides an AWS or Kubernetes timer by a time scale.
func scaledBy(d time.Duration, timeScale float64) time.Duration {
	if timeScale <= 1 {
		return d
	}
	return time.Duration(float64(d) / timeScale)
}

// probeOne GETs url until it answers 200 (and, for a pod, with that pod's
// name) or ctx ends. Retries follow only a failed attempt.
func probeOne(ctx context.Context, client *http.Client, url, wantPod string) error {
	var last error
	for {
		last = getOnce(ctx, client, url, wantPod)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func getOnce(ctx context.Context, client *http.Client, url, wantPod string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if wantPod == "" {
		return nil
	}
	var r echo.Reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return err
	}
	if r.Pod != wantPod {
		return errors.New("answered by " + r.Pod)
	}
	return nil
}
