//lint:file-ignore SA1019 kubectl still shows v1 Endpoints (the walkthrough's `kubectl get endpoints`) and a node's kubeProxyVersion, both deprecated upstream.

package kubectl

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nlbsim/nlbsim/topology"
)

// describeResources are the resource names Describe takes.
var describeResources = []string{"services", "service", "svc"}

// maxAnnotationLen is where kubectl describe moves an annotation's value to
// lines of its own and shortens them.
const maxAnnotationLen = 140

// Describe writes what `kubectl describe svc NAME` shows for the Service
// req names (req.Resource service/svc/services, or svc/NAME), followed by
// its NLB: nodes, attributes, health check, listeners and targets with the
// health the supervisor last recorded. A missing Service is a
// *NotFoundError; another resource, a missing name or an -o a *UsageError.
func Describe(out io.Writer, w *topology.World, targets []topology.TargetHealth, req Request) error {
	resource, name := req.Resource, req.Name
	if typ, n, ok := strings.Cut(resource, "/"); ok {
		if name != "" {
			return &UsageError{Problem: "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form"}
		}
		resource, name = typ, n
	}
	if !slices.Contains(describeResources, strings.ToLower(resource)) {
		return &UsageError{Problem: fmt.Sprintf("describe does not support resource type %q", resource), Valid: []string{"services (svc)"}}
	}
	if name == "" {
		return &UsageError{Problem: "describe needs a Service name: describe svc NAME"}
	}
	if req.Output != "" && req.Output != OutputTable {
		return &UsageError{Problem: fmt.Sprintf("describe takes no output format (got -o %s)", req.Output)}
	}
	s, ok := w.Service(cmp.Or(req.Namespace, DefaultNamespace), name)
	if !ok {
		return &NotFoundError{Resource: "services", Name: name}
	}
	svc := Service(w, s)
	var endpoints corev1.Endpoints
	if s.Selector != nil || len(s.ManualEndpoints) > 0 {
		endpoints = Endpoints(w, s)
	}
	// kubectl describe's alignment: values two spaces after the longest label.
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	describeService(tw, &svc, &endpoints)
	if lb, ok := w.LoadBalancerFor(s.Key()); ok {
		fmt.Fprintln(tw)
		describeLoadBalancer(tw, w, lb, targetsOf(w, lb, slices.Clone(targets)))
	}
	return tw.Flush()
}

// describeService is kubectl's describeService for a Service without
// events.
func describeService(out io.Writer, svc *corev1.Service, endpoints *corev1.Endpoints) {
	spec := svc.Spec
	fmt.Fprintf(out, "Name:\t%s\n", svc.Name)
	fmt.Fprintf(out, "Namespace:\t%s\n", svc.Namespace)
	printLabelsMultiline(out, "Labels", svc.Labels)
	printAnnotationsMultiline(out, "Annotations", svc.Annotations)
	fmt.Fprintf(out, "Selector:\t%s\n", labels.FormatLabels(spec.Selector))
	fmt.Fprintf(out, "Type:\t%s\n", spec.Type)
	if spec.IPFamilyPolicy != nil {
		fmt.Fprintf(out, "IP Family Policy:\t%s\n", *spec.IPFamilyPolicy)
	}
	families := make([]string, len(spec.IPFamilies))
	for i, f := range spec.IPFamilies {
		families[i] = string(f)
	}
	fmt.Fprintf(out, "IP Families:\t%s\n", orNone(strings.Join(families, ",")))
	fmt.Fprintf(out, "IP:\t%s\n", spec.ClusterIP)
	fmt.Fprintf(out, "IPs:\t%s\n", orNone(strings.Join(spec.ClusterIPs, ",")))
	if len(spec.ExternalIPs) > 0 {
		fmt.Fprintf(out, "External IPs:\t%s\n", strings.Join(spec.ExternalIPs, ","))
	}
	if spec.ExternalName != "" {
		fmt.Fprintf(out, "External Name:\t%s\n", spec.ExternalName)
	}
	if ingress := svc.Status.LoadBalancer.Ingress; len(ingress) > 0 {
		points := make([]string, len(ingress))
		for i, in := range ingress {
			points[i] = cmp.Or(in.IP, in.Hostname)
		}
		fmt.Fprintf(out, "LoadBalancer Ingress:\t%s\n", strings.Join(points, ", "))
	}
	for _, sp := range spec.Ports {
		name := cmp.Or(sp.Name, "<unset>")
		fmt.Fprintf(out, "Port:\t%s\t%d/%s\n", name, sp.Port, sp.Protocol)
		if sp.TargetPort.Type == intstr.Int {
			fmt.Fprintf(out, "TargetPort:\t%d/%s\n", sp.TargetPort.IntVal, sp.Protocol)
		} else {
			fmt.Fprintf(out, "TargetPort:\t%s/%s\n", sp.TargetPort.StrVal, sp.Protocol)
		}
		if sp.NodePort != 0 {
			fmt.Fprintf(out, "NodePort:\t%s\t%d/%s\n", name, sp.NodePort, sp.Protocol)
		}
		fmt.Fprintf(out, "Endpoints:\t%s\n", formatEndpoints(endpoints, sp.Name))
	}
	fmt.Fprintf(out, "Session Affinity:\t%s\n", spec.SessionAffinity)
	if spec.ExternalTrafficPolicy != "" {
		fmt.Fprintf(out, "External Traffic Policy:\t%s\n", spec.ExternalTrafficPolicy)
	}
	if spec.InternalTrafficPolicy != nil {
		fmt.Fprintf(out, "Internal Traffic Policy:\t%s\n", *spec.InternalTrafficPolicy)
	}
	if spec.HealthCheckNodePort != 0 {
		fmt.Fprintf(out, "HealthCheck NodePort:\t%d\n", spec.HealthCheckNodePort)
	}
	fmt.Fprintf(out, "Events:\t<none>\n")
}

// printLabelsMultiline writes one key=value per line, sorted, as kubectl
// describe does.
func printLabelsMultiline(out io.Writer, title string, l map[string]string) {
	fmt.Fprintf(out, "%s:\t", title)
	if len(l) == 0 {
		fmt.Fprintln(out, "<none>")
		return
	}
	for i, key := range sortedKeys(l) {
		if i > 0 {
			fmt.Fprint(out, "\t")
		}
		fmt.Fprintf(out, "%s=%s\n", key, l[key])
	}
}

// printAnnotationsMultiline writes one "key: value" per line, sorted; a
// long or multi-line value goes under its key, each line shortened.
func printAnnotationsMultiline(out io.Writer, title string, annotations map[string]string) {
	fmt.Fprintf(out, "%s:\t", title)
	keys := slices.DeleteFunc(sortedKeys(annotations), func(k string) bool { return k == corev1.LastAppliedConfigAnnotation })
	if len(keys) == 0 {
		fmt.Fprintln(out, "<none>")
		return
	}
	for i, key := range keys {
		if i > 0 {
			fmt.Fprint(out, "\t")
		}
		value := strings.TrimSuffix(annotations[key], "\n")
		if len(value)+len(key)+2 <= maxAnnotationLen && !strings.Contains(value, "\n") {
			fmt.Fprintf(out, "%s: %s\n", key, value)
			continue
		}
		fmt.Fprintf(out, "%s:\n", key)
		for _, line := range strings.Split(value, "\n") {
			if len(line) > maxAnnotationLen-2 {
				line = line[:maxAnnotationLen-2] + "..."
			}
			fmt.Fprintf(out, "\t  %s\n", line)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// formatEndpoints is kubectl's Endpoints cell for one Service port: the
// first maxEndpoints ready ip:port, then "+ N more...".
func formatEndpoints(endpoints *corev1.Endpoints, portName string) string {
	if len(endpoints.Subsets) == 0 {
		return "<none>"
	}
	var list []string
	count := 0
	for _, ss := range endpoints.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				if len(list) < maxEndpoints {
					list = append(list, a.IP)
				}
				count++
			}
			continue
		}
		for _, p := range ss.Ports {
			if p.Name != portName {
				continue
			}
			for _, a := range ss.Addresses {
				if len(list) < maxEndpoints {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
				count++
			}
		}
	}
	cell := strings.Join(list, ",")
	if count > maxEndpoints {
		return fmt.Sprintf("%s + %d more...", cell, count-maxEndpoints)
	}
	return cell
}

// describeLoadBalancer writes the NLB's section in describe's layout:
// attributes, listeners, health check, nodes and targets.
func describeLoadBalancer(out io.Writer, w *topology.World, lb topology.NLB, targets []topology.TargetHealth) {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	fmt.Fprintf(out, "Load Balancer:\n")
	fmt.Fprintf(out, "  Name:\t%s\n", lb.Name)
	fmt.Fprintf(out, "  DNS Name:\t%s\n", lb.DNSName)
	fmt.Fprintf(out, "  Type:\tnetwork\n")
	fmt.Fprintf(out, "  Scheme:\t%s\n", lb.Scheme)
	fmt.Fprintf(out, "  Target Type:\t%s\n", lb.TargetType)
	fmt.Fprintf(out, "  Cross-Zone Load Balancing:\t%s\n", onOff(lb.CrossZone))
	fmt.Fprintf(out, "  Client IP Preservation:\t%s\n", onOff(lb.PreserveClientIP))

	fmt.Fprintf(out, "  Nodes:\n")
	fmt.Fprintf(out, "    Zone\tAddress\tHost\n")
	fmt.Fprintf(out, "    ----\t-------\t----\n")
	for _, n := range lb.Nodes {
		fmt.Fprintf(out, "    %s\t%s\t%s\n", n.AZ, n.IP, n.Name)
	}

	fmt.Fprintf(out, "  Listeners:\n")
	fmt.Fprintf(out, "    Protocol\tPort\tTarget Group\n")
	fmt.Fprintf(out, "    --------\t----\t------------\n")
	for _, g := range targetGroupsOf(w, lb) {
		fmt.Fprintf(out, "    %s\t%d\t%s\n", g.port.Protocol, g.port.Port, g.name)
	}

	hc := lb.HealthCheck
	fmt.Fprintf(out, "  Health Check:\n")
	fmt.Fprintf(out, "    Protocol:\t%s\n", hc.Protocol)
	fmt.Fprintf(out, "    Port:\t%s\n", hc.Port)
	if hc.Path != "" {
		fmt.Fprintf(out, "    Path:\t%s\n", hc.Path)
	}
	if hc.SuccessCodes != "" {
		fmt.Fprintf(out, "    Success Codes:\t%s\n", hc.SuccessCodes)
	}
	fmt.Fprintf(out, "    Interval:\t%s\n", hc.Interval)
	fmt.Fprintf(out, "    Timeout:\t%s\n", hc.Timeout)
	fmt.Fprintf(out, "    Healthy Threshold:\t%d\n", hc.HealthyThreshold)
	fmt.Fprintf(out, "    Unhealthy Threshold:\t%d\n", hc.UnhealthyThreshold)

	if len(targets) == 0 {
		fmt.Fprintf(out, "  Targets: <none>\n") // no tab: not aligned with the health check, as kubectl's "Endpoints: <none>"
		return
	}
	sortTargets(targets)
	fmt.Fprintf(out, "  Targets:\n")
	fmt.Fprintf(out, "    Target Group\tTarget\tPort\tZone\tState\tReason\tHost\n")
	fmt.Fprintf(out, "    ------------\t------\t----\t----\t-----\t------\t----\n")
	for _, t := range targets {
		fmt.Fprintf(out, "    %s\t%s\n", strings.Join(targetCells(t), "\t"), orNone(t.Host))
	}
}
