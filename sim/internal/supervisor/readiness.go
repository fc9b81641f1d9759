package supervisor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// probeReadiness runs kubelet's readiness probe of a pod whose Deployment
// declares one, from the pod's node, until the pod goes or the supervisor
// stops: FailureThreshold failures in a row make the pod NotReady (it
// leaves the endpoints), SuccessThreshold passes make it Ready again.
func (s *Supervisor) probeReadiness(w *topology.World, pod topology.Pod) {
	p, podName := &pod, pod.Name
	d, ok := w.Deployment(p.Namespace, p.Owner)
	if !ok || d.ReadinessProbe == nil {
		return
	}
	probe := *d.ReadinessProbe
	port, err := probePort(probe.Port, *p)
	if err != nil {
		s.event(eventWarning, "Unhealthy", "pod/"+podName, "readiness probe: "+err.Error())
		return
	}
	node, err := netns.Open(topology.Namespace(w.Cluster.Name, p.Node))
	if err != nil {
		return
	}
	defer node.Close()
	timeout := s.scaled(max(probe.Timeout, time.Second))
	dialer := netns.NewDialer(node, timeout)
	addr := net.JoinHostPort(p.IP.String(), strconv.Itoa(port))
	check := func() bool {
		ctx, cancel := context.WithTimeout(s.life, timeout)
		defer cancel()
		switch probe.Handler {
		case "httpGet":
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+probe.Path, nil)
			if err != nil {
				return false
			}
			resp, err := (&http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}).Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode >= 200 && resp.StatusCode < 400
		default: // tcpSocket; exec and grpc probes are judged by the port answering
			c, err := dialer.DialContext(ctx, "tcp4", addr)
			if err != nil {
				return false
			}
			c.Close()
			return true
		}
	}
	if !s.sleep(s.scaled(probe.InitialDelay)) {
		return
	}
	passes, fails, seen := 0, 0, false
	for s.sleep(s.scaled(max(probe.Period, time.Second))) {
		current, ok := s.world().Pod(podName)
		if !ok && !seen {
			continue // the change that made the pod is not saved yet
		}
		if !ok || current.Terminating {
			return
		}
		seen = true
		if check() {
			passes, fails = passes+1, 0
		} else {
			passes, fails = 0, fails+1
		}
		switch {
		case current.NotReady && passes >= max(probe.SuccessThreshold, 1):
			s.setReady(podName, true)
		case !current.NotReady && fails >= max(probe.FailureThreshold, 1):
			s.setReady(podName, false)
		}
	}
}

func (s *Supervisor) setReady(podName string, ready bool) {
	err := s.change(func(w *topology.World) error {
		if p, ok := w.Pod(podName); ok {
			p.NotReady = !ready
		}
		return nil
	})
	if err != nil {
		return
	}
	if ready {
		s.event(eventNormal, "Ready", "pod/"+podName, "readiness probe passed: back in the endpoints")
	} else {
		s.event(eventWarning, "Unhealthy", "pod/"+podName, "readiness probe failed: removed from the endpoints")
	}
}

// probePort resolves a probe's port, a number or a container port's name.
func probePort(port string, p topology.Pod) (int, error) {
	if n, err := strconv.Atoi(port); err == nil {
		return n, nil
	}
	for _, c := range p.Ports {
		if c.Name == port {
			return c.Port, nil
		}
	}
	if port == "" && len(p.Ports) > 0 {
		return p.Ports[0].Port, nil
	}
	return 0, fmt.Errorf("no container port %q", port)
}
