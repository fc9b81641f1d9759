package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// World is one world on one node and the syncs it goes through, as nlbsim's
// nat/conformance_test.go writes it.
type World struct {
	Name     string  `json:"name"`
	Seed     int64   `json:"seed,omitempty"`
	Host     string  `json:"host"` // the node as nlbsim names it: node-1
	NodeName string  `json:"nodeName"`
	NodeIP   string  `json:"nodeIP"`
	Node     v1.Node `json:"node"`
	// SyncPeriod is kube-proxy's syncPeriod: in large-cluster mode stale
	// chains are deleted at most once per syncPeriod.
	SyncPeriod time.Duration `json:"syncPeriod"`
	// Builtin lists nlbsim's kube-proxy and kubelet rules in the built-in
	// chains ("table -A CHAIN …"), in their order on the node.
	Builtin []string `json:"builtin"`
	Steps   []Step   `json:"steps"`
	File    string   `json:"-"`
}

// Step is the world at one sync: the first is a full sync, the others
// partial ones after the changes from the step before. Restore is nlbsim's
// iptables-restore input for it.
type Step struct {
	Note string `json:"note,omitempty"`
	// Wait is how long after the sync before this one this one runs.
	Wait           time.Duration             `json:"wait,omitempty"`
	Services       []v1.Service              `json:"services"`
	EndpointSlices []discovery.EndpointSlice `json:"endpointSlices"`
	Restore        string                    `json:"restore"`
	// Health is what nlbsim's health-check node port server answers after
	// this sync, for each Service that has one.
	Health []Health `json:"health,omitempty"`
}

// Health is one answer of a health-check node port server.
type Health struct {
	Service string            `json:"service"` // namespace/name
	Port    int               `json:"port"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// ReadWorlds reads every *.json world of a directory, in file name order.
func ReadWorlds(dir string) ([]World, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []World
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var w World
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(w.Steps) == 0 {
			return nil, fmt.Errorf("%s: no steps", f)
		}
		w.File = filepath.Base(f)
		out = append(out, w)
	}
	return out, nil
}
