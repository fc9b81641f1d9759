package kubectl

import (
	"crypto/sha256"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nlbsim/nlbsim/topology"
)

// What topology does not record but kubectl shows: the EKS add-ons' images,
// node group and instance sizes. Values are those of an EKS 1.30 cluster.

// NodeGroup is the managed node group every node belongs to.
const NodeGroup = topology.NodeGroup

// ecrAccount hosts the EKS add-on images in most regions, ap-northeast-2 included.
const ecrAccount = "602401143452"

// appImage is the walkthrough's image; nlbsim's echo server stands in for it.
const appImage = "nginx:1.21"

// Priority classes of the add-ons and their values.
const (
	systemNodeCritical    = "system-node-critical"
	systemClusterCritical = "system-cluster-critical"
)

var priorityValues = map[string]int32{systemNodeCritical: 2000001000, systemClusterCritical: 2000000000}

// workload is what a Deployment's or DaemonSet's pod template runs.
type workload struct {
	serviceAccount string
	priorityClass  string
	containers     []corev1.Container
}

// workloadFor describes the containers of owner's pods. ports are the pod's
// container ports (topology keeps them per pod) and go to the first
// container; count is the number of containers the pod has.
func workloadFor(w *topology.World, namespace, owner string, ports []topology.ContainerPort, count int, hostNetwork bool) workload {
	ecr := func(image string) string {
		return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", ecrAccount, w.Cluster.Region, image)
	}
	wl := workload{serviceAccount: "default"}
	first := container(owner, appImage, ports, hostNetwork)
	switch {
	case namespace == topology.AppNamespace && owner == topology.AppDeployment:
		first.Name = "nginx"
		wl.containers = []corev1.Container{first}
	case namespace == "kube-system" && owner == "coredns":
		first.Image = ecr("eks/coredns:v1.11.1-eksbuild.8")
		first.Args = []string{"-conf", "/etc/coredns/Corefile"}
		first.Resources = resources(map[string]string{"cpu": "100m", "memory": "70Mi"}, map[string]string{"memory": "170Mi"})
		wl.serviceAccount, wl.priorityClass = "coredns", systemClusterCritical
		wl.containers = []corev1.Container{first}
	case namespace == "kube-system" && owner == "aws-node":
		cni := container("aws-node", ecr("amazon-k8s-cni:v1.18.3-eksbuild.3"),
			[]topology.ContainerPort{{Name: "metrics", Port: 61678, Protocol: "TCP"}}, hostNetwork)
		cni.Resources = resources(map[string]string{"cpu": "25m"}, nil)
		agent := container("aws-eks-nodeagent", ecr("amazon/aws-network-policy-agent:v1.1.2-eksbuild.1"),
			[]topology.ContainerPort{{Name: "agentmetrics", Port: 8162, Protocol: "TCP"}}, hostNetwork)
		agent.Resources = resources(map[string]string{"cpu": "25m"}, nil)
		wl.serviceAccount, wl.priorityClass = "aws-node", systemNodeCritical
		wl.containers = []corev1.Container{cni, agent}
	case namespace == "kube-system" && owner == "kube-proxy":
		first.Image = ecr("eks/kube-proxy:v1.30.0-minimal-eksbuild.3")
		first.Command = []string{"kube-proxy", "--v=2", "--config=/var/lib/kube-proxy-config/config", "--hostname-override=$(NODE_NAME)"}
		first.Resources = resources(map[string]string{"cpu": "100m"}, nil)
		wl.serviceAccount, wl.priorityClass = "kube-proxy", systemNodeCritical
		wl.containers = []corev1.Container{first}
	default:
		wl.containers = []corev1.Container{first}
	}
	for i := len(wl.containers); i < count; i++ {
		wl.containers = append(wl.containers, container(fmt.Sprintf("%s-%d", owner, i+1), appImage, nil, hostNetwork))
	}
	if count > 0 && count < len(wl.containers) {
		wl.containers = wl.containers[:count]
	}
	return wl
}

func container(name, image string, ports []topology.ContainerPort, hostNetwork bool) corev1.Container {
	c := corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	for _, p := range ports {
		cp := corev1.ContainerPort{Name: p.Name, ContainerPort: int32(p.Port), Protocol: corev1.Protocol(p.Protocol)}
		if hostNetwork { // the API server defaults hostPort to containerPort
			cp.HostPort = cp.ContainerPort
		}
		c.Ports = append(c.Ports, cp)
	}
	return c
}

func resources(requests, limits map[string]string) corev1.ResourceRequirements {
	list := func(m map[string]string) corev1.ResourceList {
		if len(m) == 0 {
			return nil
		}
		out := corev1.ResourceList{}
		for k, v := range m {
			out[corev1.ResourceName(k)] = resource.MustParse(v)
		}
		return out
	}
	return corev1.ResourceRequirements{Requests: list(requests), Limits: list(limits)}
}

// qosClass is the pod's QoS class as the API server computes it, for the
// shapes the catalog uses (no pod sets equal requests and limits everywhere).
func qosClass(containers []corev1.Container) corev1.PodQOSClass {
	for _, c := range containers {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			return corev1.PodQOSBurstable
		}
	}
	return corev1.PodQOSBestEffort
}

// instanceMemoryMiB is each known instance type's memory.
var instanceMemoryMiB = map[string]int64{
	"t3.nano": 512, "t3.micro": 1024, "t3.small": 2048, "t3.medium": 4096, "t3.large": 8192,
	"t3.xlarge": 16384, "m5.large": 8192, "m5.xlarge": 16384, "c5.large": 4096,
}

// instanceVCPUs is each known instance type's vCPU count.
var instanceVCPUs = map[string]int64{
	"t3.nano": 2, "t3.micro": 2, "t3.small": 2, "t3.medium": 2, "t3.large": 2,
	"t3.xlarge": 4, "m5.large": 2, "m5.xlarge": 4, "c5.large": 2,
}

// nodeResources returns a node's capacity and allocatable resources as
// kubelet reports them on EKS: memory as the kernel sees it (a t3.medium
// shows 3943372Ki), minus EKS's kube-reserved (255Mi + 11Mi per pod, CPU by
// the core-count ladder) and the 100Mi eviction threshold.
func nodeResources(instanceType string) (capacity, allocatable corev1.ResourceList) {
	maxPods := int64(topology.InstanceTypes[instanceType].MaxPods())
	capacity = corev1.ResourceList{
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("20959212Ki"),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
	allocatable = corev1.ResourceList{
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("19316009748"),
		"hugepages-1Gi":                 resource.MustParse("0"),
		"hugepages-2Mi":                 resource.MustParse("0"),
	}
	if cpus, ok := instanceVCPUs[instanceType]; ok {
		capacity[corev1.ResourceCPU] = *resource.NewQuantity(cpus, resource.DecimalSI)
		allocatable[corev1.ResourceCPU] = *resource.NewMilliQuantity(cpus*1000-reservedMilliCPU(cpus), resource.DecimalSI)
	}
	if mib, ok := instanceMemoryMiB[instanceType]; ok {
		kib := mib * 3943372 / 4096
		free := max(0, kib-(255+11*maxPods)*1024-100*1024)
		capacity[corev1.ResourceMemory] = resource.MustParse(fmt.Sprintf("%dKi", kib))
		allocatable[corev1.ResourceMemory] = resource.MustParse(fmt.Sprintf("%dKi", free))
	}
	return capacity, allocatable
}

// reservedMilliCPU is EKS's kube-reserved CPU: 6% of the first core, 1% of
// the second, 0.5% of the third and fourth, 0.25% of every further core.
func reservedMilliCPU(cores int64) int64 {
	var tenths int64 // tenths of a millicore
	for c := int64(1); c <= cores; c++ {
		switch {
		case c == 1:
			tenths += 600
		case c == 2:
			tenths += 100
		case c <= 4:
			tenths += 50
		default:
			tenths += 25
		}
	}
	return tenths / 10
}

// hashOf is a deterministic digest of parts.
func hashOf(parts ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// uidFor is a deterministic, well-formed UUID (version 4 layout) for an object.
func uidFor(w *topology.World, kind, namespace, name string) types.UID {
	h := hashOf(w.Cluster.Name, "uid", kind, namespace, name)
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

// safeAlphabet is the one Kubernetes uses for generated hashes and suffixes.
const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// revisionHash is a deterministic 10-character controller revision hash.
func revisionHash(parts ...string) string {
	h := hashOf(parts...)
	var b strings.Builder
	for i := 0; i < 10; i++ {
		b.WriteByte(safeAlphabet[int(h[i])%len(safeAlphabet)])
	}
	return b.String()
}

// hexID is a deterministic lowercase hex identifier of n characters (n ≤ 64).
func hexID(n int, parts ...string) string {
	return fmt.Sprintf("%x", hashOf(parts...))[:n]
}
