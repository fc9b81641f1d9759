package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netns"

	"github.com/nlbsim/nlbsim/topology"
)

// Supervisor runs everything long-lived of one cluster: the pods' servers,
// the control-plane ENIs, the nodes' kube-proxy health servers, and the
// control socket the CLI talks to. A socket made inside a namespace stays
// there, so one process serves every host.
type Supervisor struct {
	worldMu sync.RWMutex
	w       *topology.World // read through world(); replaced, never edited
	log     *log.Logger
	started time.Time

	proxy    *proxySync
	life     context.Context // ends when the supervisor stops: background work ends with it
	endLife  context.CancelFunc
	eventsMu sync.Mutex
	changeMu sync.Mutex // one change of the living world at a time

	// What depends on the Services' settings, replaced by Reload.
	reloadMu       sync.Mutex
	nlb            *nlbController
	cancel         context.CancelFunc // ends the NLB's health checks
	nlbDone        chan struct{}
	serviceServers []*http.Server

	servingMu sync.Mutex
	serving   map[string][]netip.Addr

	mu         sync.Mutex
	podServers map[string][]*http.Server // by pod name
	closers    []func()                  // DNS servers and other non-HTTP servers, run by Stop
	servers    []*http.Server
	listeners  []net.Listener
	handles    map[string]netns.NsHandle
}

// SupervisorStatus is what the control socket reports.
type SupervisorStatus struct {
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	Listeners int       `json:"listeners"`
}

// NewSupervisor prepares a supervisor for a built world.
func NewSupervisor(w *topology.World, logw io.Writer) *Supervisor {
	s := &Supervisor{w: w, log: log.New(logw, "supervisor: ", log.LstdFlags|log.Lmicroseconds),
		handles: map[string]netns.NsHandle{}, podServers: map[string][]*http.Server{}}
	s.proxy = newProxySync(s, w)
	s.life, s.endLife = context.WithCancel(context.Background())
	return s
}

// world returns the live world: pods and nodes change as the cluster lives.
func (s *Supervisor) world() *topology.World {
	s.worldMu.RLock()
	defer s.worldMu.RUnlock()
	return s.w
}

func (s *Supervisor) setWorld(w *topology.World) {
	s.worldMu.Lock()
	s.w = w
	s.worldMu.Unlock()
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
	select {
	case <-s.life.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// scaled divides an AWS or Kubernetes timer by the world's time scale.
func (s *Supervisor) scaled(d time.Duration) time.Duration {
	if s.w.Spec.TimeScale <= 1 {
		return d
	}
	return time.Duration(float64(d) / s.w.Spec.TimeScale)
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
	for _, h := range s.w.Hosts() {
		ns, err := openNamespace(h.Namespace)
		if err != nil {
			return err
		}
		s.handles[h.Name] = ns
	}
	for _, p := range s.w.Pods {
		if err := s.servePod(s.w, p); err != nil {
			return err
		}
	}
	for _, c := range s.w.ControlPlane {
		id := EchoReply{Pod: c.Name, Namespace: "kube-system", PodIP: c.IP.String(), Node: "EKS control plane"}
		if _, err := s.serveHTTP(c.Name, "0.0.0.0:443", echoHandler(id)); err != nil {
			return err
		}
	}
	for _, n := range s.w.Nodes {
		addr := fmt.Sprintf("0.0.0.0:%d", s.w.Cluster.KubeProxy.HealthzPort)
		if _, err := s.serveHTTP(n.Name, addr, proxierHealthHandler()); err != nil {
			return err
		}
	}
	if err := s.startDNS(); err != nil {
		return err
	}
	return s.startServices()
}

// servePod starts a pod's echo servers, one per TCP container port.
func (s *Supervisor) servePod(w *topology.World, p topology.Pod) error {
	if !p.Running() || p.Serves != topology.ServesHTTP && p.Serves != topology.ServesDNS {
		return nil
	}
	node, _ := w.Node(p.Node)
	id := EchoReply{Pod: p.Name, Namespace: p.Namespace, PodIP: p.IP.String(), Node: node.NodeName}
	for _, port := range p.Ports {
		if port.Protocol != "TCP" || p.Serves == topology.ServesDNS && port.Port == 53 {
			continue // CoreDNS's DNS port is served by the DNS server
		}
		srv, err := s.serveHTTP(p.Name, fmt.Sprintf("0.0.0.0:%d", port.Port), echoHandler(id))
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.podServers[p.Name] = append(s.podServers[p.Name], srv)
		s.mu.Unlock()
	}
	go s.probeReadiness(w, p)
	return nil
}

// stopPodServers ends a pod's servers (its container stops) and releases
// its namespace handle.
func (s *Supervisor) stopPodServers(name string) {
	s.mu.Lock()
	servers := s.podServers[name]
	delete(s.podServers, name)
	ns, ok := s.handles[name]
	delete(s.handles, name)
	s.mu.Unlock()
	for _, srv := range servers {
		srv.Close()
	}
	if ok {
		ns.Close()
	}
}

// startServices starts what depends on the Services' settings: kube-proxy's
// health-check node port servers and the NLBs (target registration, the
// first health checks at once as the NLB's provisioning, the NLB nodes'
// rules, and the checks that go on).
func (s *Supervisor) startServices() error {
	for _, n := range s.w.Nodes {
		for _, svc := range s.w.Services {
			if svc.HealthCheckNodePort == 0 {
				continue
			}
			addr := fmt.Sprintf("0.0.0.0:%d", svc.HealthCheckNodePort)
			srv, err := s.serveHTTP(n.Name, addr, serviceHealthHandler(s.world, svc, n.Name))
			if err != nil {
				return err
			}
			s.serviceServers = append(s.serviceServers, srv)
		}
	}
	nlb, err := newNLBController(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.nlb, s.cancel = nlb, cancel
	if err := nlb.provision(ctx); err != nil {
		return err
	}
	s.nlbDone = make(chan struct{})
	go func() {
		defer close(s.nlbDone)
		nlb.run(ctx)
	}()
	return nil
}

// stopServices ends what startServices started and waits for the NLB's
// health checks to finish.
func (s *Supervisor) stopServices() {
	if s.cancel != nil {
		s.cancel()
		if s.nlbDone != nil {
			<-s.nlbDone
		}
		s.cancel, s.nlbDone = nil, nil
	}
	for _, srv := range s.serviceServers {
		srv.Close()
	}
	s.serviceServers = nil
}

// Reload applies a changed world in place (target mode, cross-zone, client
// IP preservation, traffic policy): the NLBs re-register their targets,
// which start in initial and are checked at once; pods keep serving.
func (s *Supervisor) Reload(w *topology.World) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.stopServices()
	s.setWorld(w)
	s.proxy.reset(w)
	return s.startServices()
}

// serveHTTP serves handler on addr inside a host's namespace.
func (s *Supervisor) serveHTTP(host, addr string, handler http.Handler) (*http.Server, error) {
	l, err := listenIn(s.handles[host], addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s in %s: %w", addr, host, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: s.log}
	s.mu.Lock()
	s.servers = append(s.servers, srv)
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Printf("%s %s: %v", host, addr, err)
		}
	}()
	return srv, nil
}

// Stop closes every server and namespace handle.
func (s *Supervisor) Stop() {
	s.endLife()
	s.changeMu.Lock() // let a change in progress finish; none starts after
	s.changeMu.Unlock()
	s.stopServices()
	s.runClosers()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, srv := range s.servers {
		srv.Close()
	}
	for _, h := range s.handles {
		h.Close()
	}
	s.servers, s.listeners, s.handles = nil, nil, map[string]netns.NsHandle{}
}

// Status reports the supervisor's state.
func (s *Supervisor) Status() SupervisorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SupervisorStatus{PID: os.Getpid(), Started: s.started, Listeners: len(s.listeners)}
}

// ServeControl answers the CLI on the cluster's unix socket until ctx ends.
func (s *Supervisor) ServeControl(ctx context.Context) error {
	path := socketFile(s.w.Cluster.Name)
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(s.Status())
	})
	mux.HandleFunc("POST /do", func(rw http.ResponseWriter, r *http.Request) {
		var a Action
		err := json.NewDecoder(r.Body).Decode(&a)
		if err == nil {
			err = s.Do(a)
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrNotFoundObject):
			http.Error(rw, err.Error(), http.StatusNotFound)
		case isInvalid(err):
			http.Error(rw, err.Error(), http.StatusBadRequest)
		default:
			http.Error(rw, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /reload", func(rw http.ResponseWriter, r *http.Request) {
		w, err := LoadWorld(s.w.Cluster.Name)
		if err == nil {
			err = s.Reload(w)
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := &http.Server{Handler: mux, ErrorLog: s.log}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writePID records the supervisor's pid for down; an in-process one is
// marked so.
func writePID(cluster string, pid int, inProcess bool) error {
	text := strconv.Itoa(pid)
	if inProcess {
		text += " " + inProcessMark
	}
	return os.WriteFile(pidFile(cluster), []byte(text+"\n"), 0o644)
}

// RunSupervisor is the detached supervisor's main: it serves a running
// cluster's world until ctx ends, and reports readiness on the pipe at fd 3
// that spawnSupervisor handed it.
func RunSupervisor(ctx context.Context, cluster string) error {
	ready := os.NewFile(3, "ready")
	say := func(msg string) {
		if ready != nil {
			fmt.Fprintln(ready, msg)
			ready.Close()
			ready = nil
		}
	}
	w, err := LoadWorld(cluster)
	if err != nil {
		say(err.Error())
		return err
	}
	sup := NewSupervisor(w, os.Stderr)
	if err := sup.Start(); err != nil {
		say(err.Error())
		return err
	}
	defer sup.Stop()
	if err := writePID(cluster, os.Getpid(), false); err != nil {
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
