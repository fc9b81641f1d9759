package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nlbsim/nlbsim/topology"
)

// Action is one change of a living cluster, as the CLI's verbs ask for it.
type Action struct {
	Verb      string `json:"verb"` // scale, rollout-restart, delete-pod, fail-pod, recover-pod, stop-node, start-node
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Replicas  int    `json:"replicas,omitempty"`
	How       string `json:"how,omitempty"`
}

// Do carries out an action on the live world.
func (s *Supervisor) Do(a Action) error {
	ns := cmpOr(a.Namespace, "default")
	if strings.HasSuffix(a.Verb, "-pod") { // pod-N aliases name pods too
		if h, err := s.world().Lookup(a.Name); err == nil && h.Kind == topology.KindPod {
			a.Name = h.Name
		}
	}
	switch a.Verb {
	case "scale":
		return s.Scale(ns, a.Name, a.Replicas)
	case "rollout-restart":
		return s.RolloutRestart(ns, a.Name)
	case "delete-pod":
		return s.DeletePod(a.Name)
	case "fail-pod":
		return s.FailPod(a.Name, a.How)
	case "recover-pod":
		return s.RecoverPod(a.Name)
	case "stop-node":
		return s.StopNode(a.Name)
	case "start-node":
		return s.StartNode(a.Name)
	}
	return &topology.InvalidError{Err: fmt.Errorf("unknown action %q", a.Verb)}
}

func isInvalid(err error) bool {
	var invalid *topology.InvalidError
	return errors.As(err, &invalid)
}

// Do asks a running cluster's supervisor to carry out an action. Errors
// keep their kind: not found, invalid (exit 2), or a failure.
func Do(ctx context.Context, cluster string, a Action) error {
	if _, err := LoadWorld(cluster); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socketFile(cluster))
	}}, Timeout: time.Minute}
	body, _ := json.Marshal(a)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://supervisor/do", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("supervisor of cluster %q is not answering (sudo nlbsim up --name %s restarts it): %w", cluster, cluster, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	text := strings.TrimSpace(string(msg))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", strings.TrimSuffix(text, ": "+ErrNotFoundObject.Error()), ErrNotFoundObject)
	case http.StatusBadRequest:
		return &topology.InvalidError{Err: errors.New(text)}
	}
	return errors.New(text)
}
