package supervisor

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/netns"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/topology"
)

// Reasons AWS gives for a target's state in DescribeTargetHealth
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html).
// For a Network Load Balancer the only unhealthy reason is
// Target.FailedHealthChecks: Target.ResponseCodeMismatch and Target.Timeout
// "apply only to Application Load Balancers and Gateway Load Balancers".
const (
	reasonRegistering = "Elb.RegistrationInProgress"
	reasonInitial     = "Elb.InitialHealthChecking"
	reasonFailed      = "Target.FailedHealthChecks"
)

// Descriptions DescribeTargetHealth gives with those reasons.
const (
	describeRegistering = "Target registration is in progress"
	describeInitial     = "Initial health checking in progress"
	describeFailed      = "Health checks failed"
)

// targetRecord is a target's health with the streak that moves it.
type targetRecord struct {
	topology.TargetHealth
	passes, fails int
	drainUntil    time.Time
}

// nlbController does what the Load Balancer Controller and the NLB do:
// registers targets, health-checks them from every NLB node, and programs
// each NLB node's DNAT rules from the targets' health.
type nlbController struct {
	s *Supervisor
	w *topology.World // the world it was started for: Reload starts another

	programMu sync.Mutex // one programming of the NLB nodes at a time

	mu      sync.Mutex
	targets map[string][]*targetRecord // guarded by mu: by NLB name
	// opening is set while a goroutine opens pods' readiness gates.
	opening atomic.Bool

	// terminated are deregistered targets whose connections the NLB
	// resets (deregistration_delay.connection_termination.enabled), until
	// the address registers again. Guarded by mu, by NLB name.
	terminated map[string][]topology.Target
}

func newNLBController(s *Supervisor, w *topology.World) *nlbController {
	c := &nlbController{s: s, w: w, targets: map[string][]*targetRecord{}, terminated: map[string][]topology.Target{}}
	for _, lb := range w.LoadBalancers {
		for _, t := range w.Targets(lb) {
			c.targets[lb.Name] = append(c.targets[lb.Name], registering(t))
		}
	}
	return c
}

// nlbIdleTimeout is how long an NLB keeps an idle TCP flow: "the idle
// timeout for TCP flows is 350 seconds" (NLB user guide, "Connection idle
// timeout"); then the next packet of either side gets a reset.
const nlbIdleTimeout = 350 * time.Second

// setIdleTimeout makes the NLB nodes' conntrack forget idle established
// flows after the idle timeout at the world's time scale (whole seconds,
// at least one); the NLB nodes' rules reset the packets of forgotten
// flows. Closed flows are kept 120 s, beyond the targets' TIME_WAIT, so
// that the nodes' SNAT never reuses a tuple still in use at a target.
func (c *nlbController) setIdleTimeout() error {
	secs := max(1, int(math.Round(c.s.scaled(nlbIdleTimeout).Seconds())))
	for _, lb := range c.w.LoadBalancers {
		for _, node := range lb.Nodes {
			ns, ok := c.s.handle(node.Name)
			if !ok {
				continue
			}
			if err := netns.SetSysctls(ns, []netns.Sysctl{
				{Key: netns.ConntrackEstablishedTimeout, Value: strconv.Itoa(secs)},
				{Key: netns.ConntrackTimeWaitTimeout, Value: "120"}, // the kernel's default, made sure of
			}); err != nil {
				return fmt.Errorf("NLB node %s: %w", node.Name, err)
			}
		}
	}
	return nil
}

// registering is a target just registered: initial, with
// Elb.RegistrationInProgress until its first health checks start. AWS:
// "It can take a few minutes for the registration process to complete and
// health checks to start" (NLB user guide, "Health checks for Network Load
// Balancer target groups"); here registration lasts until the target
// group's next round of health checks.
func registering(t topology.Target) *targetRecord {
	return &targetRecord{TargetHealth: topology.TargetHealth{
		Target: t, State: topology.TargetInitial, Reason: reasonRegistering, Description: describeRegistering}}
}

// reregister puts a known target back to registration.
func (r *targetRecord) reregister() {
	r.State, r.Reason, r.Description, r.passes, r.fails = topology.TargetInitial, reasonRegistering, describeRegistering, 0, 0
}

// run health-checks every NLB's targets at its interval (divided by the
// time scale) until ctx ends.
func (c *nlbController) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, lb := range c.w.LoadBalancers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(c.s.scaled(lb.HealthCheck.Interval))
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				started := c.startChecks(lb)
				results := c.checkAll(ctx, lb)
				if ctx.Err() != nil {
					return
				}
				changed := c.apply(lb, results) || started
				// Not in this goroutine: the gates change the world under
				// lifeMu, which Reload and Stop hold while they wait for
				// this loop to end.
				if c.opening.CompareAndSwap(false, true) {
					go func() {
						defer c.opening.Store(false)
						c.openGates(lb)
					}()
				}
				if c.dropDrained(lb) || changed {
					if err := c.program(); err != nil {
						c.s.log.Printf("programming NLB %s: %v", lb.Name, err)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// startChecks ends the registration of the targets registered since the
// last round: their initial health checks start now. It reports whether
// any target did.
func (c *nlbController) startChecks(lb topology.NLB) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	started := false
	for _, r := range c.targets[lb.Name] {
		if r.State == topology.TargetInitial && r.Reason == reasonRegistering {
			r.Reason, r.Description, started = reasonInitial, describeInitial, true
		}
	}
	return started
}

// apply moves targets along their thresholds: HealthyThreshold passes in a
// row make a target healthy, UnhealthyThreshold failures unhealthy, from
// initial as later on. It reports whether any target changed state.
func (c *nlbController) apply(lb topology.NLB, results []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for i, r := range c.targets[lb.Name] {
		if i >= len(results) || r.State == topology.TargetDraining || r.State == topology.TargetUnused ||
			r.Reason == reasonRegistering {
			continue
		}
		if results[i] == "" {
			r.passes, r.fails = r.passes+1, 0
			if r.State != topology.TargetHealthy && r.passes >= lb.HealthCheck.HealthyThreshold {
				r.State, r.Reason, r.Description = topology.TargetHealthy, "", ""
				c.s.event(eventNormal, "TargetHealthy", "targetgroup/"+r.TargetGroup, r.Addr().String()+" is healthy")
				changed = true
			}
			continue
		}
		r.passes, r.fails = 0, r.fails+1
		if r.State != topology.TargetUnhealthy && r.State != topology.TargetUnhealthyDraining && r.fails >= lb.HealthCheck.UnhealthyThreshold {
			c.markUnhealthy(r)
			what := " is unhealthy: "
			if lb.UnhealthyKeepsConnections && lb.UnhealthyDrainingInterval > 0 {
				r.State, r.drainUntil = topology.TargetUnhealthyDraining, time.Now().Add(c.s.scaled(lb.UnhealthyDrainingInterval))
				what = " is unhealthy.draining (keeps its connections for " + c.s.scaled(lb.UnhealthyDrainingInterval).String() + "): "
			}
			c.s.event(eventWarning, "TargetUnhealthy", "targetgroup/"+r.TargetGroup, r.Addr().String()+what+r.Reason+": "+r.Description+" (last check: "+failureText(results[i])+")")
			changed = true
		}
	}
	return changed
}

// openGates does the Load Balancer Controller's part of pod readiness
// gates: the target-health condition of a pod whose target is healthy
// turns True (and stays so: the gate is for getting Ready). The caller
// holds no lock and is not the health-check loop (it takes lifeMu).
func (c *nlbController) openGates(lb topology.NLB) {
	if lb.TargetType != topology.TargetIP {
		return
	}
	c.mu.Lock()
	var open []topology.Target
	for _, r := range c.targets[lb.Name] {
		if r.State == topology.TargetHealthy {
			open = append(open, r.Target)
		}
	}
	c.mu.Unlock()
	w := c.s.world()
	var opening []topology.Target
	for _, t := range open {
		if p, ok := w.Pod(t.Host); ok && p.IP == t.IP {
			if cur, has := p.ReadinessGates[topology.ReadinessGatePrefix+t.TargetGroup]; has && !cur {
				opening = append(opening, t)
			}
		}
	}
	if len(opening) == 0 {
		return
	}
	var opened []topology.Target
	err := c.s.change(func(w *topology.World) error {
		opened = opened[:0]
		for _, t := range opening {
			if p, ok := w.Pod(t.Host); ok && p.IP == t.IP && p.SetGate(topology.ReadinessGatePrefix+t.TargetGroup, true) {
				opened = append(opened, t)
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	for _, t := range opened {
		c.s.event(eventNormal, "ReadinessGateTrue", "pod/"+t.Host, topology.ReadinessGatePrefix+t.TargetGroup+" is True: the target "+t.Addr().String()+" is healthy")
	}
}

// reconcile registers and deregisters targets as the Load Balancer
// Controller does when endpoints or nodes change: new targets start in
// initial; gone ones drain for the deregistration delay, then go; the
// targets of a stopped instance are unused at once.
func (c *nlbController) reconcile() {
	w := c.s.world()
	now := time.Now()
	c.mu.Lock()
	for _, lb := range w.LoadBalancers {
		want := map[string]topology.Target{}
		var order []string
		for _, t := range w.Targets(lb) {
			k := t.TargetGroup + "|" + t.Addr().String()
			want[k], order = t, append(order, k)
		}
		for _, r := range c.targets[lb.Name] {
			k := r.TargetGroup + "|" + r.Addr().String()
			t, wanted := want[k]
			delete(want, k)
			node, _ := w.Node(t.Node)
			switch {
			case wanted && lb.TargetType == topology.TargetInstance && node.Stopped:
				if r.State != topology.TargetUnused {
					r.State, r.Reason, r.Description = topology.TargetUnused, "Target.InvalidState", "Target is in the stopped state"
					c.s.event(eventNormal, "TargetUnused", "targetgroup/"+r.TargetGroup, r.Addr().String()+" is unused: the instance is stopped")
				}
			case wanted && (r.State == topology.TargetUnused || r.State == topology.TargetDraining):
				r.reregister()
				c.s.event(eventNormal, "TargetRegistered", "targetgroup/"+r.TargetGroup, r.Addr().String()+" registered")
			case !wanted && r.State != topology.TargetDraining:
				r.State, r.Reason, r.Description = topology.TargetDraining, "Target.DeregistrationInProgress", "Target deregistration is in progress"
				r.drainUntil = now.Add(c.s.scaled(lb.DeregistrationDelay))
				c.s.event(eventNormal, "TargetDraining", "targetgroup/"+r.TargetGroup, r.Addr().String()+" deregistered: draining for "+c.s.scaled(lb.DeregistrationDelay).String())
			}
		}
		for _, k := range order {
			if t, ok := want[k]; ok {
				c.terminated[lb.Name] = slices.DeleteFunc(c.terminated[lb.Name], func(x topology.Target) bool {
					return x.TargetGroup == t.TargetGroup && x.Addr() == t.Addr()
				})
				c.targets[lb.Name] = append(c.targets[lb.Name], registering(t))
				c.s.event(eventNormal, "TargetRegistered", "targetgroup/"+t.TargetGroup, t.Addr().String()+" registered")
			}
		}
	}
	c.mu.Unlock()
	if err := c.program(); err != nil {
		c.s.log.Printf("programming NLBs: %v", err)
	}
}

// dropDrained forgets targets whose deregistration delay has passed and
// ends unhealthy draining intervals; it reports whether any target went or
// changed.
func (c *nlbController) dropDrained(lb topology.NLB) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, kept, dropped := time.Now(), c.targets[lb.Name][:0], false
	for _, r := range c.targets[lb.Name] {
		if r.State == topology.TargetDraining && now.After(r.drainUntil) {
			msg := " drained and deregistered"
			if lb.DeregistrationTermination {
				c.terminated[lb.Name] = append(c.terminated[lb.Name], r.Target)
				msg += "; its connections are terminated"
			}
			c.s.event(eventNormal, "TargetDeregistered", "targetgroup/"+r.TargetGroup, r.Addr().String()+msg)
			dropped = true
			continue
		}
		if r.State == topology.TargetUnhealthyDraining && now.After(r.drainUntil) {
			r.State = topology.TargetUnhealthy
			c.s.event(eventWarning, "TargetUnhealthy", "targetgroup/"+r.TargetGroup, r.Addr().String()+" is unhealthy: the draining interval is over; its connections are reset")
			dropped = true
		}
		kept = append(kept, r)
	}
	c.targets[lb.Name] = kept
	return dropped
}

// markUnhealthy gives a target the one unhealthy reason an NLB reports,
// whatever failed (a refusal, a timeout, an HTTP status outside the
// success codes); the event names what failed.
func (c *nlbController) markUnhealthy(r *targetRecord) {
	r.State, r.Reason, r.Description = topology.TargetUnhealthy, reasonFailed, describeFailed
}

// checkAll probes every target of an NLB from every NLB node at once. A
// target passes a round when most nodes' probes pass. The result per target
// is "" for a pass, else why it failed: "timeout", an HTTP status, "refused".
func (c *nlbController) checkAll(ctx context.Context, lb topology.NLB) []string {
	c.mu.Lock()
	targets := make([]topology.Target, len(c.targets[lb.Name]))
	for i, r := range c.targets[lb.Name] {
		targets[i] = r.Target
	}
	c.mu.Unlock()
	failures := make([][]string, len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, node := range lb.Nodes {
		ns, ok := c.s.handle(node.Name)
		if !ok {
			continue
		}
		for i, t := range targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if why := c.probe(ctx, ns, node, lb, t); why != "" {
					mu.Lock()
					failures[i] = append(failures[i], why)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	out := make([]string, len(targets))
	for i, f := range failures {
		if 2*len(f) >= len(lb.Nodes) && len(f) > 0 {
			out[i] = f[0]
		}
	}
	return out
}

// probe runs one health check from inside an NLB node's namespace: a TCP
// connection, or an HTTP GET whose status must be one of the success codes
// (200–399 by default). An HTTP check
// sends the NLB node's private address and the listener port as its Host
// header and does not follow redirects (a 3xx is a success): "HTTP health
// check requests use the private IP address of the load balancer node and
// the listener port as the host header" (NLB user guide, "Health checks for
// Network Load Balancer target groups").
func (c *nlbController) probe(ctx context.Context, ns netns.Handle, node topology.NLBNode, lb topology.NLB, t topology.Target) string {
	hc := lb.HealthCheck
	timeout := c.s.scaled(hc.Timeout)
	addr := net.JoinHostPort(t.IP.String(), strconv.Itoa(lb.HealthCheckPort(t)))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if hc.Protocol == "TCP" {
		d := netns.NewDialer(ns, timeout)
		conn, err := d.DialContext(ctx, "tcp4", addr)
		if err != nil {
			return failureKind(err)
		}
		conn.Close()
		return ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+hc.Path, nil)
	if err != nil {
		return err.Error()
	}
	req.Host = net.JoinHostPort(node.IP.String(), strconv.Itoa(t.ListenerPort))
	client := netns.HTTPClient(ns, timeout, false)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return failureKind(err)
	}
	resp.Body.Close()
	if !hc.Succeeds(resp.StatusCode) {
		return strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// failureText says what a failed check met, for events.
func failureText(failure string) string {
	switch {
	case failure == "timeout":
		return "timed out"
	case len(failure) == 3:
		return "HTTP " + failure
	}
	return "connection refused"
}

func failureKind(err error) string {
	if ne, ok := err.(net.Error); ok && ne.Timeout() || err == context.DeadlineExceeded {
		return "timeout"
	}
	return "refused"
}

// program writes every NLB node's rules from the targets' health, saves
// the target groups for get targets, and updates the DNS answers.
func (c *nlbController) program() error {
	c.programMu.Lock()
	defer c.programMu.Unlock()
	start := time.Now()
	defer func() {
		c.s.event(eventNormal, "NLBProgrammed", "nlb", fmt.Sprintf("NLB nodes reprogrammed in %d ms", time.Since(start).Milliseconds()))
	}()
	c.mu.Lock()
	byLB := map[string][]topology.TargetHealth{}
	terminated := map[string][]topology.Target{}
	for name, ts := range c.terminated {
		terminated[name] = slices.Clone(ts)
	}
	var all []topology.TargetHealth
	for name, rs := range c.targets {
		for _, r := range rs {
			byLB[name] = append(byLB[name], r.TargetHealth)
		}
		all = append(all, byLB[name]...)
	}
	c.mu.Unlock()
	sortTargets(all)

	serving := map[string][]netip.Addr{}
	var wg sync.WaitGroup
	errs := make([]error, 0)
	var errMu sync.Mutex
	for _, lb := range c.w.LoadBalancers {
		healths := byLB[lb.Name]
		for _, node := range lb.Nodes {
			if nat.Serves(node, lb.CrossZone, healths) {
				serving[lb.DNSName] = append(serving[lb.DNSName], node.IP)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				text := nat.NLBNodeRulesTerminating(lb, node, healths, terminated[lb.Name])
				if err := nat.Replace(c.s.backend, text, netns.RunIn(topology.Namespace(c.w.Cluster.Name, node.Name))); err != nil {
					errMu.Lock()
					errs = append(errs, fmt.Errorf("NLB node %s: %w", node.Name, err))
					errMu.Unlock()
				}
			}()
		}
		if len(serving[lb.DNSName]) == 0 { // no AZ can serve: DNS answers with all
			for _, node := range lb.Nodes {
				serving[lb.DNSName] = append(serving[lb.DNSName], node.IP)
			}
		}
	}
	wg.Wait()
	c.s.setServing(serving)
	if err := state.SaveTargets(c.w.Cluster.Name, all); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// sortTargets orders target health by target group, AZ and address.
func sortTargets(ts []topology.TargetHealth) {
	sort.Slice(ts, func(i, j int) bool {
		a, b := ts[i], ts[j]
		if a.TargetGroup != b.TargetGroup {
			return a.TargetGroup < b.TargetGroup
		}
		if a.AZ != b.AZ {
			return a.AZ < b.AZ
		}
		return a.Addr().String() < b.Addr().String()
	})
}
