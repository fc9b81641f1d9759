package cluster

import (
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nlbsim/nlbsim/topology"
)

// kubeProxyConfigMaps are where clusters keep kube-proxy's
// KubeProxyConfiguration: EKS's add-on (kube-system/kube-proxy-config, key
// config) and kubeadm (kube-system/kube-proxy, key config.conf).
var kubeProxyConfigMaps = []struct{ name, key string }{
	{"kube-proxy-config", "config"},
	{"kube-proxy", "config.conf"},
}

// kubeProxyConfiguration is the part of kubeproxy.config.k8s.io/v1alpha1's
// KubeProxyConfiguration that shapes rules. It is read leniently: a newer
// field is not an error.
type kubeProxyConfiguration struct {
	Kind            string `yaml:"kind"`
	Mode            string `yaml:"mode"`
	ClusterCIDR     string `yaml:"clusterCIDR"`
	DetectLocalMode string `yaml:"detectLocalMode"`
	IPTables        struct {
		MasqueradeAll      bool   `yaml:"masqueradeAll"`
		MasqueradeBit      *int   `yaml:"masqueradeBit"`
		SyncPeriod         string `yaml:"syncPeriod"`
		MinSyncPeriod      string `yaml:"minSyncPeriod"`
		LocalhostNodePorts *bool  `yaml:"localhostNodePorts"`
	} `yaml:"iptables"`
	NodePortAddresses []string `yaml:"nodePortAddresses"`
}

// kubeProxyConfig reads the first kube-proxy ConfigMap found into the
// world's kube-proxy configuration and says where it came from.
func (r *reader) kubeProxyConfig(w *topology.World, o *objects) string {
	for _, want := range kubeProxyConfigMaps {
		for _, cm := range o.configMaps {
			if cm.Namespace != "kube-system" || cm.Name != want.name {
				continue
			}
			text, ok := cm.Data[want.key]
			if !ok {
				r.warn("ConfigMap kube-system/%s has no %q key; kube-proxy's defaults are used", cm.Name, want.key)
				continue
			}
			var cfg kubeProxyConfiguration
			if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
				r.fail(o.where[cm], "data[%q] is not a KubeProxyConfiguration: %v", want.key, err)
				return ""
			}
			r.applyKubeProxyConfig(w, "kube-system/"+cm.Name, cfg)
			return "kube-system/" + cm.Name
		}
	}
	for _, cm := range o.configMaps {
		if !(cm.Namespace == "kube-system" && strings.HasPrefix(cm.Name, "kube-proxy")) {
			r.warn("ConfigMap %s/%s has no effect on kube-proxy's rules; left out", cm.Namespace, cm.Name)
		}
	}
	return ""
}

func (r *reader) applyKubeProxyConfig(w *topology.World, from string, cfg kubeProxyConfiguration) {
	kp := &w.Cluster.KubeProxy
	kp.Mode = cfg.Mode
	if kp.Mode == "" {
		kp.Mode = "iptables" // kube-proxy's default on Linux
	}
	if b := cfg.IPTables.MasqueradeBit; b != nil {
		kp.MasqueradeBit = *b
	}
	if d, err := time.ParseDuration(cfg.IPTables.SyncPeriod); err == nil {
		kp.SyncPeriod = d
	}
	if d, err := time.ParseDuration(cfg.IPTables.MinSyncPeriod); err == nil {
		kp.MinSyncPeriod = d
	}
	if cfg.ClusterCIDR != "" {
		first, _, _ := strings.Cut(cfg.ClusterCIDR, ",")
		if p, err := netip.ParsePrefix(strings.TrimSpace(first)); err == nil {
			kp.ClusterCIDR = p.Masked()
			// Kept in the world; nat's rule generation does not read it yet.
			r.warn("%s: clusterCIDR %s is not modelled yet: the rules lack kube-proxy's detect-local masquerade (! -s %s -j KUBE-MARK-MASQ) and pod short-circuit", from, kp.ClusterCIDR, kp.ClusterCIDR)
		} else {
			r.warn("%s: clusterCIDR %q is not a CIDR; left out", from, cfg.ClusterCIDR)
		}
	}
	switch cfg.DetectLocalMode {
	case "", "ClusterCIDR":
	default:
		r.warn("%s: detectLocalMode %s is not modelled", from, cfg.DetectLocalMode)
	}
	if cfg.IPTables.MasqueradeAll {
		r.warn("%s: iptables.masqueradeAll is not modelled", from)
	}
	if l := cfg.IPTables.LocalhostNodePorts; l != nil && !*l {
		r.warn("%s: iptables.localhostNodePorts false is not modelled", from)
	}
	if len(cfg.NodePortAddresses) > 0 {
		r.warn("%s: nodePortAddresses are not modelled (NodePorts are taken as open on every local address)", from)
	}
}
