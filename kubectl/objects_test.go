package kubectl

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/nlbsim/nlbsim/topology"
)

func TestConvertNodes(t *testing.T) {
	w := topology.Default()
	o := Convert(w)
	require.Len(t, o.Nodes, 3)
	n := o.Nodes[0]
	assert.Equal(t, "v1", n.APIVersion)
	assert.Equal(t, "Node", n.Kind)
	assert.Equal(t, "ip-192-168-1-118.ap-northeast-2.compute.internal", n.Name)
	assert.Equal(t, "aws:///ap-northeast-2a/"+w.Nodes[0].InstanceID, n.Spec.ProviderID)
	for k, v := range map[string]string{
		"kubernetes.io/hostname":           n.Name,
		"topology.kubernetes.io/zone":      "ap-northeast-2a",
		"topology.kubernetes.io/region":    "ap-northeast-2",
		"node.kubernetes.io/instance-type": "t3.medium",
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"eks.amazonaws.com/nodegroup":      NodeGroup,
	} {
		assert.Equal(t, v, n.Labels[k], k)
	}
	assert.Equal(t, []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "192.168.1.118"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.154"},
		{Type: corev1.NodeInternalDNS, Address: n.Name},
		{Type: corev1.NodeHostName, Address: n.Name},
	}, n.Status.Addresses)
	assert.Equal(t, int64(17), n.Status.Capacity.Pods().Value(), "VPC CNI limit of a t3.medium")
	assert.Equal(t, int64(17), n.Status.Allocatable.Pods().Value())
	assert.Equal(t, "3943372Ki", n.Status.Capacity.Memory().String())
	assert.Equal(t, "3388364Ki", n.Status.Allocatable.Memory().String())
	assert.Equal(t, "1930m", n.Status.Allocatable.Cpu().String())
	info := n.Status.NodeInfo
	assert.Equal(t, "Amazon Linux 2", info.OSImage)
	assert.Equal(t, "5.10.226-214.880.amzn2.x86_64", info.KernelVersion)
	assert.Equal(t, "containerd://1.7.22", info.ContainerRuntimeVersion)
	assert.Equal(t, "v1.30.4-eks-a737599", info.KubeletVersion)
	ready := n.Status.Conditions[len(n.Status.Conditions)-1]
	assert.Equal(t, corev1.NodeReady, ready.Type)
	assert.Equal(t, corev1.ConditionTrue, ready.Status)
	assert.Equal(t, w.Created, n.CreationTimestamp.Time)
}

func TestConvertPods(t *testing.T) {
	w := topology.Default()
	o := Convert(w)
	require.Len(t, o.Pods, len(w.Pods)+len(w.HostNetworkPods))

	byName := map[string]corev1.Pod{}
	for _, p := range o.Pods {
		assert.Equal(t, "Pod", p.Kind)
		byName[p.Name] = p
	}
	app := byName[w.Pods[0].Name]
	assert.Equal(t, "ip-192-168-1-118.ap-northeast-2.compute.internal", app.Spec.NodeName)
	assert.Equal(t, "nginx-deployment-67dd5f77ff", app.OwnerReferences[0].Name)
	assert.Equal(t, "ReplicaSet", app.OwnerReferences[0].Kind)
	assert.Equal(t, "67dd5f77ff", app.Labels["pod-template-hash"])
	require.Len(t, app.Spec.Containers, 1)
	assert.Equal(t, "nginx", app.Spec.Containers[0].Name)
	assert.Equal(t, "nginx:1.21", app.Spec.Containers[0].Image)
	assert.Equal(t, int32(7777), app.Spec.Containers[0].Ports[0].ContainerPort)
	assert.Equal(t, corev1.PodRunning, app.Status.Phase)
	assert.Equal(t, "192.168.1.248", app.Status.PodIP)
	assert.Equal(t, []corev1.PodIP{{IP: "192.168.1.248"}}, app.Status.PodIPs)
	assert.Equal(t, "192.168.1.118", app.Status.HostIP)
	assert.True(t, app.Status.ContainerStatuses[0].Ready)
	_, mutated := w.Pods[0].Labels["pod-template-hash"]
	assert.False(t, mutated, "topology's labels are not mutated")

	awsNode := byName["aws-node-mwktx"]
	assert.True(t, awsNode.Spec.HostNetwork)
	assert.Equal(t, "DaemonSet", awsNode.OwnerReferences[0].Kind)
	assert.Equal(t, "aws-node", awsNode.OwnerReferences[0].Name)
	assert.Equal(t, []string{"aws-node", "aws-eks-nodeagent"}, []string{awsNode.Spec.Containers[0].Name, awsNode.Spec.Containers[1].Name})
	assert.Equal(t, "192.168.1.118", awsNode.Status.PodIP)

	assert.Equal(t, "kube-proxy", byName["kube-proxy-m2bxm"].Spec.Containers[0].Name)
	coredns := byName["coredns-699d8c5988-mtpc4"]
	assert.Equal(t, "coredns", coredns.Spec.Containers[0].Name)
	assert.Equal(t, "coredns-699d8c5988", coredns.OwnerReferences[0].Name)
	assert.Len(t, coredns.Spec.Containers[0].Ports, 3)
}

func TestConvertEndpoints(t *testing.T) {
	w := topology.Default()
	o := Convert(w)
	require.Len(t, o.Endpoints, 3)
	app := o.Endpoints[2]
	assert.Equal(t, "nginx-nlb-service", app.Name)
	require.Len(t, app.Subsets, 1)
	ss := app.Subsets[0]
	assert.Equal(t, []corev1.EndpointPort{{Port: 7777, Protocol: corev1.ProtocolTCP}}, ss.Ports)
	require.Len(t, ss.Addresses, 3)
	a := ss.Addresses[0]
	assert.Equal(t, "192.168.1.248", a.IP)
	assert.Equal(t, "ip-192-168-1-118.ap-northeast-2.compute.internal", *a.NodeName)
	assert.Equal(t, "Pod", a.TargetRef.Kind)
	assert.Equal(t, w.Pods[0].Name, a.TargetRef.Name)

	// The targetRef's UID is the pod's.
	for _, p := range o.Pods {
		if p.Name == a.TargetRef.Name {
			assert.Equal(t, p.UID, a.TargetRef.UID)
		}
	}

	kubernetes := o.Endpoints[0]
	assert.Equal(t, "kubernetes", kubernetes.Name)
	require.Len(t, kubernetes.Subsets, 1)
	assert.Equal(t, "192.168.2.40", kubernetes.Subsets[0].Addresses[0].IP)
	assert.Nil(t, kubernetes.Subsets[0].Addresses[0].TargetRef)
	assert.Equal(t, []corev1.EndpointPort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}, kubernetes.Subsets[0].Ports)
}

func TestConvertServiceLocalPolicy(t *testing.T) {
	spec := topology.DefaultSpec()
	spec.ExternalTrafficPolicy = topology.PolicyLocal
	w, err := topology.Build(spec)
	require.NoError(t, err)
	svc, ok := w.Service(topology.AppNamespace, topology.AppService)
	require.True(t, ok)
	s := Service(w, svc)
	assert.Equal(t, corev1.ServiceExternalTrafficPolicyLocal, s.Spec.ExternalTrafficPolicy)
	assert.Equal(t, int32(svc.HealthCheckNodePort), s.Spec.HealthCheckNodePort)
	assert.NotZero(t, s.Spec.HealthCheckNodePort)
}

func TestConvertWorkloads(t *testing.T) {
	o := Convert(topology.Default())
	require.Len(t, o.Deployments, 2)
	require.Len(t, o.ReplicaSets, 2)
	require.Len(t, o.DaemonSets, 2)
	rs := o.ReplicaSets[1]
	assert.Equal(t, "nginx-deployment-67dd5f77ff", rs.Name)
	assert.Equal(t, "Deployment", rs.OwnerReferences[0].Kind)
	assert.Equal(t, o.Deployments[1].UID, rs.OwnerReferences[0].UID)
	ds := o.DaemonSets[0]
	assert.Equal(t, "apps/v1", ds.APIVersion)
	assert.Equal(t, "aws-node", ds.Name)
	assert.Equal(t, int32(3), ds.Status.NumberReady)
}
