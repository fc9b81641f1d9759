package conformance

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/events"
	sysctltest "k8s.io/component-helpers/node/util/sysctl/testing"
	"k8s.io/kubernetes/pkg/proxy/healthcheck"
	"k8s.io/kubernetes/pkg/proxy/iptables"
	proxyutiliptables "k8s.io/kubernetes/pkg/proxy/util/iptables"
	utiliptables "k8s.io/kubernetes/pkg/util/iptables"
	iptablestest "k8s.io/kubernetes/pkg/util/iptables/testing"
	fakeexec "k8s.io/utils/exec/testing"
)

// EKS's kube-proxy settings (the add-on's configuration): iptables mode,
// masqueradeBit 14, no cluster CIDR (so no detect-local), masqueradeAll
// false, localhostNodePorts as 1.30 defaults it (true), nodePortAddresses
// unset, iptables new enough for --random-fully, nf_conntrack_tcp_be_liberal
// off, syncPeriod 30 s (a world may set another).
const (
	masqueradeBit     = 14
	defaultSyncPeriod = 30 * time.Second
)

// recordingIPTables is upstream's fake iptables (it keeps the tables and
// checks each restore) that also records every restore input.
type recordingIPTables struct {
	*iptablestest.FakeIPTables
	restores []string
}

func (r *recordingIPTables) RestoreAll(data []byte, flush utiliptables.FlushFlag, counters utiliptables.RestoreCountersFlag) error {
	r.restores = append(r.restores, string(data))
	return r.FakeIPTables.RestoreAll(data, flush, counters)
}

// Upstream is kube-proxy's iptables proxier for one node, fed like the
// informers feed it.
type Upstream struct {
	proxier  *iptables.Proxier
	ipt      *recordingIPTables
	services map[string]*v1.Service
	slices   map[string]*discovery.EndpointSlice
	synced   bool
}

// NewUpstream builds upstream's proxier with EKS's settings for a node.
func NewUpstream(nodeName, nodeIP string, syncPeriod time.Duration) (*Upstream, error) {
	if syncPeriod == 0 {
		syncPeriod = defaultSyncPeriod
	}
	ip := net.ParseIP(nodeIP)
	if ip == nil {
		return nil, fmt.Errorf("bad node IP %q", nodeIP)
	}
	ipt := &recordingIPTables{FakeIPTables: iptablestest.NewFake().SetHasRandomFully(true)}
	// kubelet starts before kube-proxy on a node and has made its
	// KUBE-FIREWALL chain and jumps already (kube-proxy leaves an existing
	// jump where it is).
	if _, err := ipt.EnsureChain(utiliptables.TableFilter, "KUBE-FIREWALL"); err != nil {
		return nil, err
	}
	for _, c := range []utiliptables.Chain{utiliptables.ChainInput, utiliptables.ChainOutput} {
		if _, err := ipt.EnsureRule(utiliptables.Append, utiliptables.TableFilter, c, "-j", "KUBE-FIREWALL"); err != nil {
			return nil, err
		}
	}
	sysctl := sysctltest.NewFake()
	// Without conntrack on the PATH, upstream's cleanup of stale UDP
	// entries only logs; it writes no rule.
	exec := &fakeexec.FakeExec{LookPathFunc: func(string) (string, error) { return "", errors.New("no conntrack here") }}
	// The proxier's own health server is never started; it only tells the
	// Services' health-check servers that the proxier is healthy.
	healthz := healthcheck.NewProxierHealthServer("127.0.0.1:0", time.Hour)
	p, err := iptables.NewProxier(v1.IPv4Protocol, ipt, sysctl, exec, syncPeriod, 0,
		false /* masqueradeAll */, true /* localhostNodePorts */, masqueradeBit,
		proxyutiliptables.NewNoOpLocalDetector(), nodeName, ip, &events.FakeRecorder{}, healthz, nil, false)
	if err != nil {
		return nil, err
	}
	return &Upstream{proxier: p, ipt: ipt, services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}, nil
}

// Sync hands the proxier the world of one step — adds, updates and deletes
// of Services and EndpointSlices against the step before — and runs one
// sync (the first one full, as at startup; later ones partial). It returns
// the restore input upstream wrote.
func (u *Upstream) Sync(node *v1.Node, step Step) (string, error) {
	if !u.synced && node != nil {
		u.proxier.OnNodeAdd(node)
	}
	services := map[string]*v1.Service{}
	for i := range step.Services {
		s := &step.Services[i]
		services[s.Namespace+"/"+s.Name] = s
	}
	slices := map[string]*discovery.EndpointSlice{}
	for i := range step.EndpointSlices {
		s := &step.EndpointSlices[i]
		slices[s.Namespace+"/"+s.Name] = s
	}
	for k, s := range services {
		if old, ok := u.services[k]; !ok {
			u.proxier.OnServiceAdd(s)
		} else if !reflect.DeepEqual(old, s) {
			u.proxier.OnServiceUpdate(old, s)
		}
	}
	for k, old := range u.services {
		if _, ok := services[k]; !ok {
			u.proxier.OnServiceDelete(old)
		}
	}
	for k, s := range slices {
		if old, ok := u.slices[k]; !ok {
			u.proxier.OnEndpointSliceAdd(s)
		} else if !reflect.DeepEqual(old, s) {
			u.proxier.OnEndpointSliceUpdate(old, s)
		}
	}
	for k, old := range u.slices {
		if _, ok := slices[k]; !ok {
			u.proxier.OnEndpointSliceDelete(old)
		}
	}
	u.services, u.slices = services, slices

	before := len(u.ipt.restores)
	if !u.synced {
		// The informers' first sync: upstream syncs once both have
		// reported, a full sync.
		u.proxier.OnServiceSynced()
		u.proxier.OnEndpointSlicesSynced()
		u.synced = true
	} else {
		// OnServiceSynced runs syncProxyRules at once (it is called only
		// once in kube-proxy's life, but it is the one exported way to run
		// a sync synchronously); it is partial, as the runner's would be.
		u.proxier.OnServiceSynced()
	}
	if len(u.ipt.restores) != before+1 {
		return "", fmt.Errorf("upstream wrote %d restore inputs for one sync", len(u.ipt.restores)-before)
	}
	return u.ipt.restores[len(u.ipt.restores)-1], nil
}

// Result is what upstream did at one sync: its restore input, the rules of
// the built-in chains after it ("table -A CHAIN …", as kube-proxy ensured
// them one by one) and, for each Service with a health-check node port, its
// health server's answer.
type Result struct {
	Restore string
	Builtin []string
	Health  map[string]Health // by namespace/name
}

// builtin lists the rules of the filter and nat built-in chains.
func (u *Upstream) builtin() []string {
	var out []string
	for _, t := range []utiliptables.Table{utiliptables.TableFilter, utiliptables.TableNAT} {
		for _, c := range []utiliptables.Chain{utiliptables.ChainPrerouting, utiliptables.ChainInput, utiliptables.ChainForward, utiliptables.ChainOutput, utiliptables.ChainPostrouting} {
			chain, err := u.ipt.Dump.GetChain(t, c)
			if err != nil {
				continue
			}
			for _, r := range chain.Rules {
				out = append(out, string(t)+" "+r.Raw)
			}
		}
	}
	return out
}

// RunUpstream runs every step of a world through upstream's proxier and
// returns the restore input of each sync and the answers of the health
// servers the proxier runs (asked for the Services the step lists). It
// ends with every Service removed, which closes those servers.
func RunUpstream(w World) ([]Result, error) {
	u, err := NewUpstream(w.NodeName, w.NodeIP, w.SyncPeriod)
	if err != nil {
		return nil, err
	}
	defer func() { _, _ = u.Sync(&w.Node, Step{}) }()
	var out []Result
	for i, step := range w.Steps {
		time.Sleep(step.Wait)
		text, err := u.Sync(&w.Node, step)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		r := Result{Restore: text, Builtin: u.builtin(), Health: map[string]Health{}}
		for _, h := range step.Health {
			got, err := askHealth(h.Service, h.Port)
			if err != nil {
				return nil, fmt.Errorf("step %d: %w", i, err)
			}
			r.Health[h.Service] = got
		}
		out = append(out, r)
	}
	return out, nil
}

// askHealth asks the health-check server on a node port, as the NLB does.
func askHealth(service string, port int) (Health, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
	if err != nil {
		return Health{}, fmt.Errorf("health check of %s: %w", service, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Health{}, err
	}
	h := Health{Service: service, Port: port, Status: resp.StatusCode, Body: string(body), Headers: map[string]string{}}
	for _, k := range []string{"Content-Type", "X-Content-Type-Options", "X-Load-Balancing-Endpoint-Weight"} {
		h.Headers[k] = resp.Header.Get(k)
	}
	return h, nil
}
