package doctor_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/sim/doctor"
	"github.com/nlbsim/nlbsim/sim/simtest"
	"github.com/nlbsim/nlbsim/topology"
)

// generatedRules is every iptables-restore text nlbsim writes for two
// worlds that between them use every kind of rule: node rules, NLB nodes
// (with and without client IP preservation) and the fabric's steering.
func generatedRules(t *testing.T) []string {
	t.Helper()
	local := topology.DefaultSpec()
	local.Mode, local.ExternalTrafficPolicy = topology.TargetInstance, topology.PolicyLocal
	var texts []string
	for _, spec := range []topology.Spec{topology.DefaultSpec(), local} {
		w, err := topology.Build(spec)
		require.NoError(t, err)
		for _, n := range w.Nodes {
			rs, err := nat.KubeProxy(w, n.Name)
			require.NoError(t, err)
			texts = append(texts, rs.RestoreText())
		}
		var links []string
		for _, lb := range w.LoadBalancers {
			var targets []topology.TargetHealth
			for _, tg := range w.Targets(lb) {
				targets = append(targets, topology.TargetHealth{Target: tg, State: topology.TargetHealthy})
			}
			for _, node := range lb.Nodes {
				texts = append(texts, nat.NLBNodeRules(lb, node, targets))
				links = append(links, "nlb"+node.AZ)
			}
		}
		texts = append(texts, nat.FabricSteering(links))
	}
	return texts
}

// The doctor tries every match and every non-standard target that nlbsim's
// generated rules use.
func TestDoctorCoversTheRulesNlbsimWrites(t *testing.T) {
	match := regexp.MustCompile(`(?:^| )-m ([a-z]+)`)
	jump := regexp.MustCompile(`(?:^| )-j ([A-Za-z0-9-]+)`)
	matches, targets := map[string]bool{}, map[string]bool{}
	for _, text := range generatedRules(t) {
		chains := map[string]bool{"ACCEPT": true, "DROP": true, "RETURN": true}
		for _, line := range strings.Split(text, "\n") {
			if name, ok := strings.CutPrefix(line, ":"); ok {
				chains[strings.Fields(name)[0]] = true
			}
		}
		for _, line := range strings.Split(text, "\n") {
			for _, m := range match.FindAllStringSubmatch(line, -1) {
				matches[m[1]] = true
			}
			for _, j := range jump.FindAllStringSubmatch(line, -1) {
				if !chains[j[1]] && !strings.HasPrefix(j[1], "KUBE-") && !strings.HasPrefix(j[1], "AWS-") {
					targets[j[1]] = true
				}
			}
		}
	}
	require.NotEmpty(t, matches)
	require.Contains(t, targets, "DNAT")

	checked := map[string]bool{}
	for _, c := range doctor.Run().Checks {
		if f := strings.Fields(c.Name); len(f) >= 2 && (f[0] == "match" || f[0] == "target") {
			checked[f[0]+" "+f[1]] = true
		}
	}
	for m := range matches {
		assert.True(t, checked["match "+m], "the rules use -m %s; doctor does not try it", m)
	}
	for j := range targets {
		assert.True(t, checked["target "+j], "the rules use -j %s; doctor does not try it", j)
	}
}

// On this machine (provisioned like CI) every required item is ok, and the
// scratch namespace is gone afterwards.
func TestDoctorPassesHere(t *testing.T) {
	simtest.RequireRoot(t)
	r := doctor.Run()
	for _, c := range r.Checks {
		if c.Required {
			assert.Equal(t, doctor.CheckOK, c.Status, "%s: %s %s", c.Name, c.Detail, c.Fix)
		}
	}
	assert.True(t, r.OK)
	assert.Contains(t, []string{string(nat.BackendNFT), string(nat.BackendLegacy)}, r.Backend)
	left, _ := filepath.Glob("/run/netns/nlbsim-doctor-*")
	assert.Empty(t, left, "scratch namespaces left")
}

// pathWith makes a directory holding links to the named programs only, to
// stand for a machine where the others are not installed.
func pathWith(t *testing.T, programs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range programs {
		path, err := exec.LookPath(p)
		require.NoError(t, err, "%s is needed by this test", p)
		require.NoError(t, os.Symlink(path, filepath.Join(dir, p)))
	}
	return dir
}

func checkNamed(t *testing.T, r *doctor.Report, name string) doctor.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check named %q", name)
	return doctor.Check{}
}

// Optional tools that are missing are warnings; a missing iptables fails
// the check, names the package, and leaves the rule checks unchecked.
func TestDoctorNamesWhatIsMissing(t *testing.T) {
	simtest.RequireRoot(t)
	b, err := nat.DetectBackend()
	require.NoError(t, err)
	tools := []string{"ip", "iptables", "iptables-nft-restore", "iptables-nft-save"}
	if b == nat.BackendLegacy {
		tools = []string{"ip", "iptables", "iptables-legacy-restore", "iptables-legacy-save"}
	}

	t.Setenv("PATH", pathWith(t, tools...))
	r := doctor.Run()
	assert.True(t, r.OK, "only optional tools are missing")
	for _, name := range []string{"tcpdump", "curl", "conntrack"} {
		c := checkNamed(t, r, name)
		assert.Equal(t, doctor.CheckWarn, c.Status, name)
		assert.False(t, c.Required, name)
		assert.Contains(t, c.Fix, "apt-get install "+name)
	}
	assert.Equal(t, doctor.CheckOK, checkNamed(t, r, "target MASQUERADE --random-fully").Status)

	t.Setenv("PATH", pathWith(t, "ip"))
	r = doctor.Run()
	assert.False(t, r.OK)
	c := checkNamed(t, r, "iptables")
	assert.Equal(t, doctor.CheckMissing, c.Status)
	assert.Contains(t, c.Fix, "apt-get install iptables")
	assert.Equal(t, doctor.CheckSkipped, checkNamed(t, r, "match statistic").Status)
	assert.Equal(t, doctor.CheckOK, checkNamed(t, r, "conntrack netlink").Status, "listing works without rules")
	failed, unchecked := r.Missing()
	assert.Contains(t, failed, "iptables")
	assert.Positive(t, unchecked)
}
