package topology

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProxyModeFlag(t *testing.T) {
	spec := DefaultSpec()
	w, err := Build(spec)
	require.NoError(t, err)
	assert.False(t, w.NFTables())
	assert.Equal(t, KubernetesVersion, w.Cluster.KubernetesVersion)

	spec.ProxyMode = ProxyNFTables
	w, err = Build(spec)
	require.NoError(t, err)
	assert.True(t, w.NFTables())
	assert.Equal(t, "v1.33.13-eks-3025e55", w.Cluster.KubernetesVersion)
	assert.Contains(t, w.Nodes[0].KernelVersion, "amzn2023")

	spec.ProxyMode = "ipvs"
	_, err = Build(spec)
	var invalid *InvalidError
	require.True(t, errors.As(err, &invalid), "%v", err)
	assert.Equal(t, "ProxyMode", invalid.Field)
}

const kubeProxyNFT = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
iptables:
  masqueradeBit: 14
`

func TestProxyModeFromKubeProxyConfiguration(t *testing.T) {
	spec := DefaultSpec()
	spec.Manifests = []Manifest{walkthroughManifest(3), {Name: "kube-proxy.yaml", Data: kubeProxyNFT}}
	w, err := Build(spec)
	require.NoError(t, err)
	assert.True(t, w.NFTables())
	assert.Contains(t, w.Warnings[0], "kube-proxy.yaml:1: KubeProxyConfiguration: iptables not modelled")

	// Alone, the document keeps the walkthrough's Deployment and Service.
	alone := DefaultSpec()
	alone.Manifests = []Manifest{{Name: "kube-proxy.yaml", Data: kubeProxyNFT}}
	w, err = Build(alone)
	require.NoError(t, err)
	assert.True(t, w.NFTables())
	_, ok := w.Service(AppNamespace, AppService)
	assert.True(t, ok, "the walkthrough's Service stays")

	// A flag beats the document.
	spec.ProxyMode = ProxyIPTables
	w, err = Build(spec)
	require.NoError(t, err)
	assert.False(t, w.NFTables())

	for name, doc := range map[string]string{
		"ipvs":          "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n",
		"unknown mode":  "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: userspace\n",
		"unknown field": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\nmodes: x\n",
	} {
		spec := DefaultSpec()
		spec.Manifests = []Manifest{walkthroughManifest(3), {Name: "kp.yaml", Data: doc}}
		_, err := Build(spec)
		assert.Error(t, err, name)
		assert.Contains(t, err.Error(), "kp.yaml:", name)
	}
}
