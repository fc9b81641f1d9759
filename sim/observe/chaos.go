package observe

import (
	"cmp"
	"context"
	"strconv"
	"strings"

	"github.com/nlbsim/nlbsim/sim/internal/control"
	"github.com/nlbsim/nlbsim/topology"
)

// Chaos is a change applied during a traffic run: an action, once a share
// of the requests has been sent.
type Chaos struct {
	Action control.Action
	At     float64 // 0–1: the share of requests sent before it happens
	Spec   string
}

// ParseChaos reads a chaos spec: ACTION[:OBJECT]@PERCENT, as
// delete-pod@50% (a pod of the walkthrough's Deployment), rollout@0%,
// stop-node:node-2@30%, fail-pod:pod-1@20%, scale:5@10%.
func ParseChaos(spec string) (Chaos, error) {
	bad := func(why string) (Chaos, error) {
		return Chaos{}, topology.Invalid("Chaos", "%q: %s (e.g. delete-pod@50%%, rollout@0%%, stop-node:node-2@30%%, fail-pod:pod-1@20%%, scale:5@10%%)", spec, why)
	}
	what, at, ok := strings.Cut(spec, "@")
	pct, err := strconv.ParseFloat(strings.TrimSuffix(at, "%"), 64)
	if !ok || !strings.HasSuffix(at, "%") || err != nil || pct < 0 || pct > 100 {
		return bad("the moment must be a percentage of the requests, 0%–100%")
	}
	verb, object, _ := strings.Cut(what, ":")
	c := Chaos{At: pct / 100, Spec: spec}
	switch verb {
	case "delete-pod", "fail-pod":
		c.Action = control.Action{Verb: control.Verb(verb), Name: cmp.Or(object, "pod-1"), How: "refuse"}
	case "stop-node":
		c.Action = control.Action{Verb: control.Verb(verb), Name: cmp.Or(object, "node-1")}
	case "rollout":
		c.Action = control.Action{Verb: control.RolloutRestart, Name: cmp.Or(object, topology.AppDeployment)}
	case "scale":
		n, err := strconv.Atoi(object)
		if err != nil || n < 0 {
			return bad("scale takes a replica count: scale:5@10%")
		}
		c.Action = control.Action{Verb: control.Verb(verb), Name: topology.AppDeployment, Replicas: n}
	default:
		return bad("unknown action " + strconv.Quote(verb))
	}
	return c, nil
}

// chaosTrigger fires a chaos action once when enough requests are done.
type chaosTrigger struct {
	c       Chaos
	cluster string
	total   int
	fired   bool
	err     error
}

func (t *chaosTrigger) observe(ctx context.Context, done int) {
	if t == nil || t.fired || float64(done) < t.c.At*float64(t.total) {
		return
	}
	t.fired = true
	t.err = control.NewClient(t.cluster).Do(ctx, t.c.Action)
}
