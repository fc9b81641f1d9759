package nftables

import (
	"context"
	"fmt"
	"net"
	"os"
	"reflect"
	"time"
	"unsafe"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/kubernetes/pkg/proxy/conntrack"
	"k8s.io/kubernetes/pkg/proxy/healthcheck"
	"k8s.io/kubernetes/pkg/proxy/nftables"
	proxyutil "k8s.io/kubernetes/pkg/proxy/util"
	proxyutiltest "k8s.io/kubernetes/pkg/proxy/util/testing"
	"sigs.k8s.io/knftables"
)

// EKS's kube-proxy settings in nftables mode: masqueradeBit 14, no
// cluster CIDR (so the no-op local detector), masqueradeAll false,
// nodePortAddresses "primary" (the nftables default, which kube-proxy turns
// into the node's IP/32), syncPeriod 30 s unless the world says otherwise.
const (
	masqueradeBit     = 14
	defaultSyncPeriod = 30 * time.Second
)

// recordingNFT is knftables' fake (it keeps the table and checks every
// transaction as nft would) that also records each transaction's text.
type recordingNFT struct {
	*knftables.Fake
	txs []string
}

func (r *recordingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	r.txs = append(r.txs, tx.String())
	return r.Fake.Run(ctx, tx)
}

// Upstream is kube-proxy v1.33's nftables proxier for one node, fed like the
// informers feed it.
type Upstream struct {
	proxier  *nftables.Proxier
	nft      *recordingNFT
	services map[string]*v1.Service
	slices   map[string]*discovery.EndpointSlice
	synced   bool
}

// NewUpstream builds upstream's proxier with NewProxier, as kube-proxy
// does, and then hands it knftables' fake in place of the real nft (and a
// fake network that holds the node's IP, a fake conntrack, a fake
// health-check server): the same substitutions upstream's own
// NewFakeProxier makes. The fields are unexported, so they are set through
// reflection; nothing else of the proxier is touched. NewProxier itself
// runs `nft` once to check it works, so this runs in a network namespace
// of its own (TestMain).
func NewUpstream(nodeName, nodeIP, serviceCIDR string, syncPeriod time.Duration) (*Upstream, error) {
	if syncPeriod == 0 {
		syncPeriod = defaultSyncPeriod
	}
	ip := net.ParseIP(nodeIP)
	if ip == nil {
		return nil, fmt.Errorf("bad node IP %q", nodeIP)
	}
	os.Setenv("KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK", "1")
	p, err := nftables.NewProxier(context.Background(), v1.IPv4Protocol, syncPeriod, 0,
		false /* masqueradeAll */, masqueradeBit, proxyutil.NewNoOpLocalDetector(),
		nodeName, ip, &events.FakeRecorder{}, nil, []string{nodeIP + "/32"}, false)
	if err != nil {
		return nil, fmt.Errorf("upstream's NewProxier: %w", err)
	}
	nft := &recordingNFT{Fake: knftables.NewFake(knftables.IPv4Family, "kube-proxy")}
	network := proxyutiltest.NewFakeNetwork()
	network.AddInterfaceAddr(&net.Interface{Index: 0, Name: "lo"},
		[]net.Addr{&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)}})
	network.AddInterfaceAddr(&net.Interface{Index: 1, Name: "eth0"},
		[]net.Addr{&net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}})
	for name, v := range map[string]any{
		"nftables":            knftables.Interface(nft),
		"networkInterfacer":   proxyutil.NetworkInterfacer(network),
		"conntrack":           conntrack.Interface(conntrack.NewFake()),
		"serviceHealthServer": healthcheck.NewFakeServiceHealthServer(),
	} {
		if err := setUnexported(p, name, v); err != nil {
			return nil, err
		}
	}
	if serviceCIDR != "" {
		// kube-proxy v1.33 watches ServiceCIDRs (MultiCIDRServiceAllocator
		// is GA); the cluster's one is known by the first sync.
		p.OnServiceCIDRsChanged([]string{serviceCIDR})
	}
	return &Upstream{proxier: p, nft: nft, services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}, nil
}

func setUnexported(p *nftables.Proxier, field string, v any) error {
	f := reflect.ValueOf(p).Elem().FieldByName(field)
	if !f.IsValid() {
		return fmt.Errorf("upstream's Proxier has no field %q", field)
	}
	val := reflect.ValueOf(v)
	if !val.Type().AssignableTo(f.Type()) {
		return fmt.Errorf("upstream's Proxier.%s is a %s, not a %s", field, f.Type(), val.Type())
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(val)
	return nil
}

// Sync hands the proxier the world of one step — adds, updates and deletes
// of Services and EndpointSlices against the step before — and runs one
// sync (the first one full, as at startup; later ones partial). It returns
// the transactions upstream ran, in order.
func (u *Upstream) Sync(node *v1.Node, step Step) ([]string, error) {
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

	before := len(u.nft.txs)
	if !u.synced {
		u.proxier.OnServiceSynced()
		u.proxier.OnEndpointSlicesSynced()
		u.synced = true
	} else {
		// OnServiceSynced runs syncProxyRules at once; after the first
		// sync it is a partial one, as the runner's would be.
		u.proxier.OnServiceSynced()
	}
	return append([]string(nil), u.nft.txs[before:]...), nil
}

// Result is what upstream did at one sync: its transactions and the table
// after them.
type Result struct {
	Transactions []string
	Dump         string
}

// RunUpstream runs every step of a world through upstream's proxier.
func RunUpstream(w World) ([]Result, error) {
	u, err := NewUpstream(w.NodeName, w.NodeIP, w.ServiceCIDR, w.SyncPeriod)
	if err != nil {
		return nil, err
	}
	var out []Result
	for i, step := range w.Steps {
		time.Sleep(step.Wait)
		txs, err := u.Sync(&w.Node, step)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		out = append(out, Result{Transactions: txs, Dump: u.nft.Dump()})
	}
	return out, nil
}
