package nat

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata (never in CI)")

// TestGolden compares whole node rulesets with testdata/*.rules. The
// hand-written tests pin the walkthrough's chains and the reference's
// examples; these files pin everything else against unnoticed change.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		world func(*testing.T) *topology.World
		node  string
	}{
		{"default-node-1.rules", func(t *testing.T) *topology.World { return buildWorld(t, nil) }, "node-1"},
		{"default-node-2.rules", func(t *testing.T) *topology.World { return buildWorld(t, nil) }, "node-2"},
		// externalTrafficPolicy Local: node-1 has a local endpoint, node-4 none.
		{"local-node-1.rules", localWorld, "node-1"},
		{"local-node-4.rules", localWorld, "node-4"},
		{"services-node-1.rules", servicesWorld, "node-1"},
		{"services-node-3.rules", servicesWorld, "node-3"},
		{"minimal-node-1.rules", func(t *testing.T) *topology.World {
			return buildWorld(t, func(s *topology.Spec) { s.Minimal = true })
		}, "node-1"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rs, err := KubeProxy(tc.world(t), tc.node)
			require.NoError(t, err)
			path := filepath.Join("testdata", tc.file)
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(rs.RestoreText()), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(want), rs.RestoreText())
		})
	}
}

// localWorld has four nodes, the walkthrough's Service with
// externalTrafficPolicy Local, and no app pod on node-4.
func localWorld(t *testing.T) *topology.World {
	return buildWorld(t, func(s *topology.Spec) {
		s.Nodes = 4
		s.ExternalTrafficPolicy = topology.PolicyLocal
	})
}
