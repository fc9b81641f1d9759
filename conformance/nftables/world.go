package nftables

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

// World is one world on one node as nlbsim's writer (nat's
// conformance_test.go) writes it; only what the nftables half reads.
type World struct {
	Name        string        `json:"name"`
	Seed        int64         `json:"seed,omitempty"`
	Host        string        `json:"host"`
	NodeName    string        `json:"nodeName"`
	NodeIP      string        `json:"nodeIP"`
	Node        v1.Node       `json:"node"`
	ServiceCIDR string        `json:"serviceCIDR"`
	SyncPeriod  time.Duration `json:"syncPeriod"`
	Steps       []Step        `json:"steps"`
	File        string        `json:"-"`
}

// Step is the world at one sync, with nlbsim's nftables-mode output for
// it: the transactions it sent (nft -f input, in order) and the table
// after them (knftables' fake dump form).
type Step struct {
	Note           string                    `json:"note,omitempty"`
	Wait           time.Duration             `json:"wait,omitempty"`
	Services       []v1.Service              `json:"services"`
	EndpointSlices []discovery.EndpointSlice `json:"endpointSlices"`
	NFT            []string                  `json:"nft"`
	NFTDump        string                    `json:"nftDump"`
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
		if w.Steps[0].NFTDump == "" {
			return nil, fmt.Errorf("%s: no nftables output (a writer from before nftables mode?)", f)
		}
		w.File = filepath.Base(f)
		out = append(out, w)
	}
	return out, nil
}
