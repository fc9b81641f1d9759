// Package supervisor runs everything long-lived of one cluster: the pods'
// echo and DNS servers, the control-plane ENIs, the nodes' kube-proxy health
// servers, kube-proxy's syncs, the NLB's health checks and programming, the
// readiness probes, and the controllers behind scale, rollout, delete pod
// and stop node. A socket made inside a namespace stays there, so one
// process serves every host.
//
// Concurrency. The live world is an immutable snapshot: a change clones it,
// edits the clone, saves it and publishes it whole; readers take the
// snapshot once through world() and never see it change under them.
// Locks, in the order a goroutine may take them (never one earlier in the
// list while holding a later one):
//
//	lifeMu → nlbController.programMu → nlbController.mu → mu → servingMu
//
// proxySync's own locks and eventsMu are taken alone or last.
package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/internal/control"
	"github.com/nlbsim/nlbsim/sim/internal/echo"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/topology"
)

// Supervisor runs one cluster's long-lived work.
type Supervisor struct {
	// Set by New, never changed.
	cluster string
	backend nat.Backend
	log     *log.Logger
	proxy   *proxySync
	life    context.Context // ends when Stop begins: background work ends with it
	endLife context.CancelFunc

	// started is written by Start before any other goroutine runs.
	started time.Time

	// live is the current world; replaced whole under lifeMu, read anywhere
	// through world().
	live atomic.Pointer[topology.World]

	// lifeMu serialises what changes the world or what is built from it:
	// the changes of a living cluster, Reload and Stop.
	lifeMu   sync.Mutex
	services *services // guarded by lifeMu: what Reload rebuilds
	stopped  bool      // guarded by lifeMu

	mu        sync.Mutex
	handles   map[string]netns.Handle // guarded by mu: by host name
	podClose  map[string][]func()     // guarded by mu: each pod's servers, closed when it stops
	hostClose []func()                // guarded by mu: the servers of the other hosts

	servingMu sync.Mutex
	serving   map[string][]netip.Addr // guarded by servingMu: NLB DNS name → NLB nodes that serve

	eventsMu sync.Mutex // one writer of the event log at a time
}

// services is what depends on the Services' and NLBs' settings: Reload
// stops it and starts it anew.
type services struct {
	servers []*http.Server // kube-proxy's healthCheckNodePort servers
	nlb     *nlbController
	cancel  context.CancelFunc // ends the NLB's health checks
	done    chan struct{}      // closed when they have ended
}

// New prepares a supervisor for a built world; backend is the iptables
// backend every restore and save uses.
func New(w *topology.World, backend nat.Backend, logw io.Writer) *Supervisor {
	s := &Supervisor{
		cluster:  w.Cluster.Name,
		backend:  backend,
		log:      log.New(logw, "supervisor: ", log.LstdFlags|log.Lmicroseconds),
		handles:  map[string]netns.Handle{},
		podClose: map[string][]func(){},
	}
	s.live.Store(w)
	s.proxy = newProxySync(s, w)
	s.life, s.endLife = context.WithCancel(context.Background())
	return s
}

// world returns the live world: pods and nodes change as the cluster lives.
// The snapshot is never edited.
func (s *Supervisor) world() *topology.World { return s.live.Load() }

// handle returns a host's namespace handle, if the host is up.
func (s *Supervisor) handle(host string) (netns.Handle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.handles[host]
	return h, ok
}

// servingAddresses gives each NLB DNS name the addresses the VPC resolver
// answers with: the NLB nodes that can serve, in AZ order.
func (s *Supervisor) servingAddresses() map[string][]netip.Addr {
	s.servingMu.Lock()
	defer s.servingMu.Unlock()
	return s.serving
}

func (s *Supervisor) setServing(m map[string][]netip.Addr) {
	s.servingMu.Lock()
	defer s.servingMu.Unlock()
	s.serving = m
}

// sleep waits d, or less when the supervisor stops; it reports whether the
// supervisor still runs.
func (s *Supervisor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.life.Done():
		return false
	case <-t.C:
		return true
	}
}

// scaled divides an AWS or Kubernetes timer by the world's time scale.
func (s *Supervisor) scaled(d time.Duration) time.Duration {
	return scaledBy(d, s.world().Spec.TimeScale)
}

func scaledBy(d time.Duration, timeScale float64) time.Duration {
	if timeScale <= 1 {
		return d
	}
	return time.Duration(float64(d) / timeScale)
}

// Start opens every listener; when it returns without error, every server
// accepts connections. Serving goes on until Stop.
func (s *Supervisor) Start() (err error) {
	s.started = time.Now()
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	w := s.world()
	for _, h := range w.Hosts() {
		ns, err := netns.Open(h.Namespace)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.handles[h.Name] = ns
		s.mu.Unlock()
	}
	for _, p := range w.Pods {
		if err := s.servePod(w, p); err != nil {
			return err
		}
	}
	for _, c := range w.ControlPlane {
		id := echo.Reply{Pod: c.Name, Namespace: "kube-system", PodIP: c.IP.String(), Node: "EKS control plane"}
		srv, err := s.serveHTTP(c.Name, "0.0.0.0:443", echo.Handler(id))
		if err != nil {
			return err
		}
		s.onStop(func() { srv.Close() })
	}
	for _, n := range w.Nodes {
		addr := fmt.Sprintf("0.0.0.0:%d", w.Cluster.KubeProxy.HealthzPort)
		srv, err := s.serveHTTP(n.Name, addr, proxierHealthHandler())
		if err != nil {
			return err
		}
		s.onStop(func() { srv.Close() })
	}
	if err := s.startVPCResolver(w); err != nil {
		return err
	}
	svcs, err := s.startServices(w)
	if err != nil {
		return err
	}
	s.services = svcs
	s.proxy.warm(w)
	return nil
}

// onStop registers fn to run when the supervisor stops.
func (s *Supervisor) onStop(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostClose = append(s.hostClose, fn)
}

// onPodStop registers fn to run when a pod's container stops.
func (s *Supervisor) onPodStop(pod string, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.podClose[pod] = append(s.podClose[pod], fn)
}

// servePod starts a running pod's servers: an echo server on each TCP
// container port, and CoreDNS's DNS server in a CoreDNS pod.
func (s *Supervisor) servePod(w *topology.World, p topology.Pod) error {
	if !p.Running() || p.Serves != topology.ServesHTTP && p.Serves != topology.ServesDNS {
		return nil
	}
	node, _ := w.Node(p.Node)
	id := echo.Reply{Pod: p.Name, Namespace: p.Namespace, PodIP: p.IP.String(), Node: node.NodeName}
	for _, port := range p.Ports {
		if port.Protocol != "TCP" || p.Serves == topology.ServesDNS && port.Port == dnsPort {
			continue // CoreDNS's DNS port is served by the DNS server
		}
		srv, err := s.serveHTTP(p.Name, fmt.Sprintf("0.0.0.0:%d", port.Port), echo.Handler(id))
		if err != nil {
			return err
		}
		s.onPodStop(p.Name, func() { srv.Close() })
	}
	if p.Serves == topology.ServesDNS {
		if err := s.startCoreDNS(w, p.Name); err != nil {
			return err
		}
	}
	go s.probeReadiness(w, p)
	return nil
}

// startPod opens a new running pod's namespace and starts its servers.
func (s *Supervisor) startPod(w *topology.World, name string) error {
	p, ok := w.Pod(name)
	if !ok {
		return fmt.Errorf("pod %q is not in the world", name)
	}
	ns, err := netns.Open(topology.Namespace(w.Cluster.Name, name))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.handles[name] = ns
	s.mu.Unlock()
	return s.servePod(w, *p)
}

// stopPod ends a pod's servers (its containers stop) and releases its
// namespace handle once they have ended.
func (s *Supervisor) stopPod(name string) {
	s.mu.Lock()
	closers := s.podClose[name]
	delete(s.podClose, name)
	ns, ok := s.handles[name]
	delete(s.handles, name)
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	if ok {
		ns.Close()
	}
}

// startServices starts what depends on the Services' settings: kube-proxy's
// health-check node port servers and the NLBs (target registration, the
// NLB nodes' rules, and the health checks, which start at the target
// groups' next round as after any registration). The caller holds lifeMu.
func (s *Supervisor) startServices(w *topology.World) (svcs *services, err error) {
	svcs = &services{}
	defer func() {
		if err != nil {
			svcs.stop()
		}
	}()
	for _, n := range w.Nodes {
		for _, svc := range w.Services {
			if svc.HealthCheckNodePort == 0 {
				continue
			}
			addr := fmt.Sprintf("0.0.0.0:%d", svc.HealthCheckNodePort)
			srv, err := s.serveHTTP(n.Name, addr, serviceHealthHandler(s.world, svc, n.Name))
			if err != nil {
				return svcs, err
			}
			svcs.servers = append(svcs.servers, srv)
		}
	}
	svcs.nlb = newNLBController(s, w)
	ctx, cancel := context.WithCancel(s.life)
	svcs.cancel = cancel
	if err := svcs.nlb.program(); err != nil {
		return svcs, err
	}
	if err := svcs.nlb.setIdleTimeout(); err != nil {
		return svcs, err
	}
	svcs.done = make(chan struct{})
	go func() {
		defer close(svcs.done)
		svcs.nlb.run(ctx)
	}()
	return svcs, nil
}

// stop ends what startServices started and waits for the NLB's health
// checks to finish.
func (svcs *services) stop() {
	if svcs == nil {
		return
	}
	if svcs.cancel != nil {
		svcs.cancel()
	}
	if svcs.done != nil {
		<-svcs.done
	}
	for _, srv := range svcs.servers {
		srv.Close()
	}
}

// ErrStopped says the supervisor is stopping or has stopped.
var ErrStopped = errors.New("the supervisor is stopping")

// Reload applies a changed world in place (target mode, cross-zone, client
// IP preservation, traffic policy, time scale, Services): kube-proxy syncs
// every node when the Services changed, and the NLBs re-register their
// targets, which start in initial (Elb.RegistrationInProgress); pods keep
// serving. It never runs beside a change of the living cluster or Stop. On
// an error the caller reloads the previous world.
func (s *Supervisor) Reload(w *topology.World) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	s.services.stop()
	s.services = nil
	// The settings are w's; nodes and pods are as the cluster lived them,
	// also if it lived on since w was made.
	w = s.world().WithSettingsOf(w)
	if err := state.SaveWorld(w); err != nil {
		return err
	}
	old := s.live.Swap(w)
	if s.proxy.inNFTMode() != w.NFTables() {
		// kube-proxy restarts in the other mode: the old mode's rules are
		// cleaned up and the new mode's full sync installs the Services.
		if err := s.proxy.switchMode(w); err != nil {
			return err
		}
	} else if !reflect.DeepEqual(old.Services, w.Services) {
		// kube-proxy sees the Services change: a sync now, partial as
		// upstream's (only the changed Services' chains).
		if err := s.proxy.sync(); err != nil {
			return err
		}
	}
	svcs, err := s.startServices(w)
	if err != nil {
		return err
	}
	s.services = svcs
	return nil
}

// ReloadSaved applies the world saved in the cluster's state directory.
func (s *Supervisor) ReloadSaved() error {
	w, err := state.LoadWorld(s.cluster)
	if err != nil {
		return err
	}
	return s.Reload(w)
}

// serveHTTP serves handler on addr inside a host's namespace; the caller
// registers its Close.
func (s *Supervisor) serveHTTP(host, addr string, handler http.Handler) (*http.Server, error) {
	ns, ok := s.handle(host)
	if !ok {
		return nil, fmt.Errorf("host %s has no namespace handle", host)
	}
	l, err := netns.Listen(ns, addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, host, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: s.log}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Printf("%s %s: %v", host, addr, err)
		}
	}()
	return srv, nil
}

// Stop ends the background work, closes every server and releases every
// namespace handle. A change in progress finishes first; none starts after.
func (s *Supervisor) Stop() {
	s.endLife()
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.services.stop()
	s.services = nil
	s.mu.Lock()
	pods := make([]string, 0, len(s.podClose))
	for p := range s.podClose {
		pods = append(pods, p)
	}
	s.mu.Unlock()
	for _, p := range pods {
		s.stopPod(p)
	}
	s.mu.Lock()
	closers := s.hostClose
	s.hostClose = nil
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.handles {
		h.Close()
	}
	s.handles = map[string]netns.Handle{}
}

// Status reports the supervisor's state.
func (s *Supervisor) Status() control.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	listeners := len(s.hostClose)
	for _, c := range s.podClose {
		listeners += len(c)
	}
	return control.Status{PID: os.Getpid(), Started: s.started, Listeners: listeners}
}

// ServeControl answers nlbsim's commands on the cluster's control socket
// until ctx ends.
func (s *Supervisor) ServeControl(ctx context.Context) error {
	return control.Serve(ctx, s.cluster, s, s.log)
}

// Run is the detached supervisor's main: it serves a running cluster's
// world until ctx ends, and reports readiness on the pipe at fd 3 that the
// process that spawned it handed it.
func Run(ctx context.Context, cluster string, backend nat.Backend) error {
	ready := os.NewFile(3, "ready")
	say := func(msg string) {
		if ready != nil {
			fmt.Fprintln(ready, msg)
			ready.Close()
			ready = nil
		}
	}
	if !goAhead(ctx) {
		return nil // up failed or stopped before our step
	}
	w, err := state.LoadWorld(cluster)
	if err != nil {
		say(err.Error())
		return err
	}
	sup := New(w, backend, os.Stderr)
	if err := sup.Start(); err != nil {
		say(err.Error())
		return err
	}
	defer sup.Stop()
	if err := state.WritePID(cluster, os.Getpid(), false); err != nil {
		say(err.Error())
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- sup.ServeControl(ctx) }()
	say("ready")
	sup.log.Printf("serving cluster %s", cluster)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// goAhead waits for the go-ahead line on fd 4, which up sends once the
// cluster's namespaces and rules stand (the process starts earlier, so that
// loading the binary overlaps building them). It reports false when the
// pipe closes without it or ctx ends (down signalled us). Like fd 3, the
// pipe is up's (sim's startSupervisorProcess).
func goAhead(ctx context.Context) bool {
	f := os.NewFile(4, "go-ahead")
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(f).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		f.Close()
		return strings.TrimSpace(s) == state.SuperviseGoAhead
	case <-ctx.Done():
		return false // the process ends; the reader with it
	}
}

// dialer returns a dialer whose sockets start in a host's namespace.
func (s *Supervisor) dialer(host string, timeout time.Duration) (*netns.Dialer, error) {
	ns, ok := s.handle(host)
	if !ok {
		return nil, fmt.Errorf("host %s has no namespace handle", host)
	}
	return netns.NewDialer(ns, timeout), nil
}
