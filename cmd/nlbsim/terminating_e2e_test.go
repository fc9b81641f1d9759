package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
)

// A Deployment whose pods sleep 40 s in preStop, behind a LoadBalancer
// Service with externalTrafficPolicy Local.
const terminatingManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 60
      containers:
      - name: web
        image: nginx:1.21
        ports: [{containerPort: 7777}]
        lifecycle:
          preStop:
            sleep: {seconds: 40}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: instance
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  ports: [{port: 7777, targetPort: 7777}]
  selector: {app: web}
`

// With externalTrafficPolicy Local, a node whose only pod is terminating
// (its preStop hook sleeping) keeps answering NodePort connections through
// that pod while it terminates, as upstream kube-proxy does: the node's
// local endpoint is the serving, terminating one (no DROP), while the
// Service's cluster-wide endpoints are the Ready pods elsewhere.
func TestNodePortAnswersThroughTerminatingLocalPod(t *testing.T) {
	simtest.RequireRoot(t)
	name := fmt.Sprintf("conf-%d", os.Getpid())
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	manifest := writeManifest(t, "terminating.yaml", terminatingManifest)
	// Four nodes for three pods, and no add-on pods: the replacement of a
	// deleted pod goes to the empty node, so the victim's node is left with
	// its terminating pod alone.
	r := nlbsim(t, "up", "--name", name, "--nodes", "4", "--minimal", "-f", manifest)
	require.Equal(t, 0, r.code, r.stderr)

	r = nlbsim(t, "get", "svc", "web", "--name", name, "-o", "jsonpath={.spec.ports[0].nodePort}")
	require.Equal(t, 0, r.code, r.stderr)
	nodePort := strings.TrimSpace(r.stdout)
	require.NotEmpty(t, nodePort)

	pods := webPods(t, name)
	require.Len(t, pods, 3)
	victim := pods[0]
	nodeIP := nodeIPs(t, name)[victim.node]
	require.NotEmpty(t, nodeIP, "node %s", victim.node)
	url := nodeIP + ":" + nodePort

	// Before: the node's local pod answers.
	assert.Equal(t, victim.ip, curlPodIP(t, name, url))

	r = nlbsim(t, "delete", "pod", victim.name, "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	for _, p := range webPods(t, name) {
		if p.name != victim.name {
			require.NotEqual(t, victim.node, p.node, "the replacement went to the victim's node; the test needs it elsewhere")
		}
	}

	// Wait for the node's kube-proxy sync that takes the terminating pod out
	// of the cluster-wide chain; its node-local chain keeps it.
	host := victim.node // exec takes a node's name
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = nlbsim(t, "exec", "--name", name, host, "--", "iptables-save", "-t", "nat")
		require.Equal(t, 0, r.code, r.stderr)
		if !svcChainHas(r.stdout, "KUBE-SVC-", victim.ip) {
			break
		}
		require.True(t, time.Now().Before(deadline), "node %s never synced the terminating pod:\n%s", host, r.stdout)
		time.Sleep(200 * time.Millisecond)
	}
	assert.True(t, svcChainHas(r.stdout, "KUBE-SVL-", victim.ip), "the node-local chain keeps the terminating pod:\n%s", r.stdout)
	r = nlbsim(t, "exec", "--name", name, host, "--", "iptables-save", "-t", "filter")
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "has no local endpoints")

	// While the preStop hook sleeps, every NodePort connection to that node
	// is answered by the terminating pod.
	for i := 0; i < 5; i++ {
		assert.Equal(t, victim.ip, curlPodIP(t, name, url), "connection %d", i+1)
	}
	// Meanwhile the node's health-check node port reports no local Ready
	// endpoint (upstream counts Ready ones only), so the NLB drains the node
	// while kube-proxy still serves what reaches it.
	r = nlbsim(t, "get", "svc", "web", "--name", name, "-o", "jsonpath={.spec.healthCheckNodePort}")
	require.Equal(t, 0, r.code, r.stderr)
	hc := strings.TrimSpace(r.stdout)
	r = nlbsim(t, "exec", "--name", name, "bastion", "--", "curl", "-s", "-i", "--max-time", "3", "http://"+nodeIP+":"+hc+"/healthz")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "HTTP/1.1 503")
	assert.Contains(t, r.stdout, "X-Load-Balancing-Endpoint-Weight: 0")
	assert.Contains(t, r.stdout, `"localEndpoints": 0`)

	// The pod is still there (its preStop hook sleeps 40 s) beside its
	// replacement.
	r = nlbsim(t, "get", "pods", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, victim.name+" ", "still terminating when the connections were answered")
}

// svcChainHas reports whether a KUBE-SVC-/KUBE-SVL- chain of an
// iptables-save dump sends to the endpoint at ip.
func svcChainHas(dump, prefix, ip string) bool {
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, "-A "+prefix) && strings.Contains(line, "-> "+ip+":") {
			return true
		}
	}
	return false
}

type webPod struct{ name, node, ip string }

// webPods lists the web Deployment's pods that are not terminating, as
// get pods -o json shows them.
func webPods(t *testing.T, cluster string) []webPod {
	t.Helper()
	r := nlbsim(t, "get", "pods", "--name", cluster, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string            `json:"name"`
				Labels            map[string]string `json:"labels"`
				DeletionTimestamp *string           `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				NodeName string `json:"nodeName"`
			} `json:"spec"`
			Status struct {
				PodIP string `json:"podIP"`
			} `json:"status"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	var out []webPod
	for _, it := range list.Items {
		if it.Metadata.Labels["app"] != "web" || it.Metadata.DeletionTimestamp != nil {
			continue
		}
		out = append(out, webPod{it.Metadata.Name, it.Spec.NodeName, it.Status.PodIP})
	}
	return out
}

// nodeIPs maps node names to their InternalIP.
func nodeIPs(t *testing.T, cluster string) map[string]string {
	t.Helper()
	ips := map[string]string{}
	for _, n := range nodeList(t, cluster) {
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" {
				ips[n.Metadata.Name] = a.Address
			}
		}
	}
	return ips
}

type nodeItem struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		Addresses []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
	} `json:"status"`
}

func nodeList(t *testing.T, cluster string) []nodeItem {
	t.Helper()
	r := nlbsim(t, "get", "nodes", "--name", cluster, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var list struct {
		Items []nodeItem `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	return list.Items
}

// curlPodIP sends one request from the bastion and returns the IP of the
// pod that answered.
func curlPodIP(t *testing.T, cluster, url string) string {
	t.Helper()
	r := nlbsim(t, "exec", "--name", cluster, "bastion", "--", "curl", "-s", "--max-time", "3", "-H", "Accept: application/json", url)
	require.Equal(t, 0, r.code, "curl %s: %s", url, r.stderr)
	var reply struct {
		PodIP string `json:"podIP"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &reply), r.stdout)
	return reply.PodIP
}
