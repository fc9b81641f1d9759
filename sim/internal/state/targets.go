package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/nlbsim/nlbsim/topology"
)

func targetsFile(cluster string) string { return filepath.Join(Dir(cluster), "targets.json") }

// LoadTargets reads the target groups' health as the supervisor last wrote
// it; none before the first write. It needs no root.
func LoadTargets(cluster string) ([]topology.TargetHealth, error) {
	b, err := os.ReadFile(targetsFile(cluster))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []topology.TargetHealth
	return out, json.Unmarshal(b, &out)
}

// SaveTargets writes the target groups' health atomically.
func SaveTargets(cluster string, ts []topology.TargetHealth) error {
	b, err := json.MarshalIndent(ts, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(targetsFile(cluster), b)
}
