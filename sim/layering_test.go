package sim_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/nlbsim/nlbsim"

// deps lists the module's packages that pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).Output()
	require.NoError(t, err, "go list -deps %s", pkg)
	var own []string
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, module+"/") && d != module+"/"+pkg {
			own = append(own, strings.TrimPrefix(d, module+"/"))
		}
	}
	return own
}

// Imports run one way: topology ← nat ← sim's layers ← the sim facade ←
// cmd. No package under sim/ but simtest imports the facade.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/...").Output()
	require.NoError(t, err)
	for _, full := range strings.Fields(string(out)) {
		pkg := strings.TrimPrefix(full, module+"/")
		for _, d := range deps(t, pkg) {
			switch {
			case pkg == "topology" || strings.HasPrefix(pkg, "topology/"):
				assert.True(t, strings.HasPrefix(d, "topology"), "%s imports %s", pkg, d)
			case pkg == "nat" || strings.HasPrefix(pkg, "nat/"):
				assert.False(t, strings.HasPrefix(d, "sim") || strings.HasPrefix(d, "cmd"), "%s imports %s", pkg, d)
			case strings.HasPrefix(pkg, "sim/") && pkg != "sim/simtest":
				assert.NotEqual(t, "sim", d, "%s imports the facade", pkg)
			}
			assert.False(t, strings.HasPrefix(d, "cmd"), "%s imports %s", pkg, d)
		}
	}
}
