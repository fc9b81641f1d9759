package topology

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ProxyMode is kube-proxy's mode on every node.
type ProxyMode string

const (
	// ProxyIPTables is the walkthrough's mode, modelled as kube-proxy
	// v1.30 writes it (the zero value means it too).
	ProxyIPTables ProxyMode = "iptables"
	// ProxyNFTables is kube-proxy v1.33's nftables mode: table ip
	// kube-proxy instead of the KUBE-* iptables chains.
	ProxyNFTables ProxyMode = "nftables"
)

// The node software of each mode's cluster. nftables mode needs kernel 5.13
// or later, so its nodes run Amazon Linux 2023, as EKS's v1.33 nodes do (EKS
// publishes no Amazon Linux 2 AMI past v1.32). The versions' suffixes are
// illustrative.
const (
	KubernetesVersionNFTables = "v1.33.13-eks-3025e55"
	osImageNFTables           = "Amazon Linux 2023.7.20250609"
	kernelVersionNFTables     = "6.1.140-154.222.amzn2023.x86_64"
	containerRuntimeNFTables  = "containerd://1.7.27"
)

// setProxyMode gives the world kube-proxy's mode: the spec's (the flag),
// else a KubeProxyConfiguration's among the manifests, else iptables.
func (w *World) setProxyMode(spec Spec, objs *manifestObjects) {
	mode := spec.ProxyMode
	if mode == "" && objs != nil {
		mode = objs.proxyMode
	}
	if mode != ProxyNFTables {
		return
	}
	w.Cluster.KubeProxy.Mode = string(ProxyNFTables)
	w.Cluster.KubernetesVersion = KubernetesVersionNFTables
	for i := range w.Nodes {
		n := &w.Nodes[i]
		n.OSImage, n.KernelVersion, n.ContainerRuntime = osImageNFTables, kernelVersionNFTables, containerRuntimeNFTables
	}
}

// kubeProxyConfiguration is the KubeProxyConfiguration document
// (kubeproxy.config.k8s.io/v1alpha1) as `-f` reads it: mode is modelled;
// the other fields of the kind are accepted and, when given, named in a
// warning (nlbsim keeps EKS's values); fields the kind does not have are
// errors, as everywhere in manifests.
type kubeProxyConfiguration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   *struct {
		Name string `json:"name"`
	} `json:"metadata,omitempty"`
	Mode string `json:"mode"`

	BindAddress                      any `json:"bindAddress,omitempty"`
	BindAddressHardFail              any `json:"bindAddressHardFail,omitempty"`
	ClientConnection                 any `json:"clientConnection,omitempty"`
	ClusterCIDR                      any `json:"clusterCIDR,omitempty"`
	ConfigSyncPeriod                 any `json:"configSyncPeriod,omitempty"`
	Conntrack                        any `json:"conntrack,omitempty"`
	DetectLocal                      any `json:"detectLocal,omitempty"`
	DetectLocalMode                  any `json:"detectLocalMode,omitempty"`
	EnableProfiling                  any `json:"enableProfiling,omitempty"`
	FeatureGates                     any `json:"featureGates,omitempty"`
	HealthzBindAddress               any `json:"healthzBindAddress,omitempty"`
	HostnameOverride                 any `json:"hostnameOverride,omitempty"`
	IPTables                         any `json:"iptables,omitempty"`
	IPVS                             any `json:"ipvs,omitempty"`
	Linux                            any `json:"linux,omitempty"`
	Logging                          any `json:"logging,omitempty"`
	MetricsBindAddress               any `json:"metricsBindAddress,omitempty"`
	NFTables                         any `json:"nftables,omitempty"`
	NodePortAddresses                any `json:"nodePortAddresses,omitempty"`
	OOMScoreAdj                      any `json:"oomScoreAdj,omitempty"`
	PortRange                        any `json:"portRange,omitempty"`
	ShowHiddenMetricsForVersion      any `json:"showHiddenMetricsForVersion,omitempty"`
	SyncPeriod                       any `json:"syncPeriod,omitempty"`
	MinSyncPeriod                    any `json:"minSyncPeriod,omitempty"`
	UDPIdleTimeout                   any `json:"udpIdleTimeout,omitempty"`
	Winkernel                        any `json:"winkernel,omitempty"`
	WindowsRunAsService              any `json:"windowsRunAsService,omitempty"`
	IPTablesMasqueradeAll            any `json:"masqueradeAll,omitempty"`
	LocalhostNodePortsDeprecatedName any `json:"localhostNodePorts,omitempty"`
}

// ignoredFields names the fields given besides mode.
func (c *kubeProxyConfiguration) ignoredFields() []string {
	var out []string
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Interface && !v.Field(i).IsNil() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, name)
		}
	}
	return out
}

// validateKubeProxyConfiguration checks mode: what kube-proxy accepts on
// Linux, and what nlbsim models.
func validateKubeProxyConfiguration(c *kubeProxyConfiguration) field.ErrorList {
	p := field.NewPath("mode")
	switch ProxyMode(c.Mode) {
	case "", ProxyIPTables, ProxyNFTables:
		return nil
	case "ipvs":
		return field.ErrorList{field.Forbidden(p, "ipvs mode "+notModelled+" (deprecated upstream since v1.35)")}
	}
	return field.ErrorList{field.NotSupported(p, c.Mode, []string{"iptables", "ipvs", "nftables"})}
}

// hasWorkloads reports whether the manifests hold a Namespace, Deployment
// or Service, which replace the walkthrough's objects; a
// KubeProxyConfiguration alone does not.
func (m *manifestObjects) hasWorkloads() bool {
	for _, o := range m.objects {
		if o.ns != nil || o.dep != nil || o.svc != nil {
			return true
		}
	}
	return false
}

// NFTables reports whether kube-proxy runs in nftables mode.
func (w *World) NFTables() bool {
	return ProxyMode(w.Cluster.KubeProxy.Mode) == ProxyNFTables
}
