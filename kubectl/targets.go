package kubectl

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/topology"
)

// TargetsOutputs are the formats GetTargets accepts.
var TargetsOutputs = []string{OutputJSON, OutputJSONPath, OutputJSONPathAsJSON, OutputTable, OutputWide, OutputYAML}

// targetsResources are the names `get` takes for the NLBs' targets.
var targetsResources = []string{"targets", "target", "tg"}

// IsTargetsResource reports whether a `get` resource name means the NLBs'
// targets (targets, target, tg), which GetTargets shows instead of Get.
func IsTargetsResource(resource string) bool {
	return slices.Contains(targetsResources, strings.ToLower(resource))
}

// The columns of `get targets`; -o wide appends targetsWideColumns.
var (
	targetsColumns     = []string{"TARGET-GROUP", "TARGET", "PORT", "ZONE", "STATE", "REASON"}
	targetsWideColumns = []string{"HOST", "DESCRIPTION"}
)

// TargetHealthReport is `get targets -o json`: AWS's DescribeTargetHealth
// response in camelCase, each description naming its target group.
type TargetHealthReport struct {
	SchemaVersion            int                       `json:"schemaVersion"`
	TargetHealthDescriptions []TargetHealthDescription `json:"targetHealthDescriptions"`
}

// TargetHealthDescription is one registered target with its health.
type TargetHealthDescription struct {
	TargetGroup     string             `json:"targetGroup"`
	Target          TargetDescription  `json:"target"`
	HealthCheckPort string             `json:"healthCheckPort"`
	TargetHealth    TargetHealthStatus `json:"targetHealth"`
}

// TargetDescription identifies a target: a pod IP (ip targets) or an
// instance ID (instance targets), with the port traffic goes to.
type TargetDescription struct {
	ID               string `json:"id"`
	Port             int    `json:"port"`
	AvailabilityZone string `json:"availabilityZone"`
}

// TargetHealthStatus is a target's state with AWS's reason code and text.
type TargetHealthStatus struct {
	State       topology.TargetState `json:"state"`
	Reason      string               `json:"reason,omitempty"`
	Description string               `json:"description,omitempty"`
}

// GetTargets writes the NLBs' target groups as `aws elbv2
// describe-target-health` reports them, ordered by target group, zone,
// then target. targets is the health the supervisor last recorded.
// req.Name ("namespace/name", or a name in req.Namespace) keeps only that
// Service's NLB; without it every NLB's targets are shown (target groups
// belong to no namespace). An unknown Service is a *NotFoundError; an empty
// table a *Notice; a bad -o a *UsageError.
func GetTargets(out io.Writer, w *topology.World, targets []topology.TargetHealth, req Request) error {
	if err := ValidateOutput(req.Output, TargetsOutputs...); err != nil {
		return err
	}
	selected := slices.Clone(targets)
	if req.Name != "" {
		namespace, name := cmp.Or(req.Namespace, DefaultNamespace), req.Name
		if ns, n, ok := strings.Cut(req.Name, "/"); ok {
			namespace, name = ns, n
		}
		svc, ok := w.Service(namespace, name)
		if !ok {
			return &NotFoundError{Resource: "services", Name: name}
		}
		lb, ok := w.LoadBalancerFor(svc.Key())
		if !ok {
			return &Notice{Message: fmt.Sprintf("No targets found: service %s has no load balancer.", svc.Key())}
		}
		selected = targetsOf(w, lb, selected)
	}
	sortTargets(selected)

	format, template, _ := strings.Cut(req.Output, "=")
	switch format {
	case OutputJSON, OutputYAML, OutputJSONPath, OutputJSONPathAsJSON:
		return printDocument(out, targetHealthReport(w, selected), format, template, req.AllowMissingTemplateKeys)
	}
	if len(selected) == 0 {
		return &Notice{Message: "No targets found"}
	}
	wide := format == OutputWide
	header := targetsColumns
	if wide {
		header = slices.Concat(targetsColumns, targetsWideColumns)
	}
	tw := newTabWriter(out)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, t := range selected {
		cells := targetCells(t)
		if wide {
			cells = append(cells, orNone(t.Host), orNone(t.Description))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// targetCells are a target's cells under targetsColumns.
func targetCells(t topology.TargetHealth) []string {
	return []string{t.TargetGroup, t.ID, strconv.Itoa(t.Port), t.AZ, string(t.State), orNone(t.Reason)}
}

// sortTargets orders targets by target group, zone, then target (address,
// port, ID).
func sortTargets(targets []topology.TargetHealth) {
	slices.SortStableFunc(targets, func(a, b topology.TargetHealth) int {
		return cmp.Or(cmp.Compare(a.TargetGroup, b.TargetGroup), cmp.Compare(a.AZ, b.AZ),
			a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.ID, b.ID))
	})
}

// targetGroup is one target group of an NLB: the Service port it serves.
type targetGroup struct {
	name string
	port topology.ServicePort
}

// targetGroupsOf lists an NLB's target groups, one per Service port.
func targetGroupsOf(w *topology.World, lb topology.NLB) []targetGroup {
	var out []targetGroup
	for _, svc := range w.Services {
		if svc.Key() != lb.Service {
			continue
		}
		for i, p := range svc.Ports {
			out = append(out, targetGroup{name: topology.TargetGroupName(lb, p, i == 0), port: p})
		}
	}
	return out
}

// targetsOf keeps the targets registered in one of lb's target groups.
func targetsOf(w *topology.World, lb topology.NLB, targets []topology.TargetHealth) []topology.TargetHealth {
	groups := targetGroupsOf(w, lb)
	return slices.DeleteFunc(targets, func(t topology.TargetHealth) bool {
		return !slices.ContainsFunc(groups, func(g targetGroup) bool { return g.name == t.TargetGroup })
	})
}

// targetHealthReport is the -o json/yaml document of targets.
func targetHealthReport(w *topology.World, targets []topology.TargetHealth) TargetHealthReport {
	lbByGroup := map[string]topology.NLB{}
	for _, lb := range w.LoadBalancers {
		for _, g := range targetGroupsOf(w, lb) {
			lbByGroup[g.name] = lb
		}
	}
	report := TargetHealthReport{SchemaVersion: 1, TargetHealthDescriptions: []TargetHealthDescription{}}
	for _, t := range targets {
		healthCheckPort := t.Port // traffic-port, also for a group no NLB of the world owns
		if lb, ok := lbByGroup[t.TargetGroup]; ok {
			healthCheckPort = lb.HealthCheckPort(t.Target)
		}
		report.TargetHealthDescriptions = append(report.TargetHealthDescriptions, TargetHealthDescription{
			TargetGroup:     t.TargetGroup,
			Target:          TargetDescription{ID: t.ID, Port: t.Port, AvailabilityZone: t.AZ},
			HealthCheckPort: strconv.Itoa(healthCheckPort),
			TargetHealth:    TargetHealthStatus{State: t.State, Reason: t.Reason, Description: t.Description},
		})
	}
	return report
}
