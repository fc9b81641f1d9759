package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/nat/explain"
)

// explain on a dump file needs no root; on a live node it reads the rules
// the kernel holds.
func TestExplainCommand(t *testing.T) {
	r := nlbsim(t, "rules", "--node", "node-2", "--name", "explain-none")
	require.Equal(t, 0, r.code, r.stderr)
	// Beside the binary: a folder the unprivileged user can read too.
	dump := filepath.Join(filepath.Dir(binary), "node-2.rules")
	require.NoError(t, os.WriteFile(dump, []byte(r.stdout), 0o644))

	r = nlbsimAs(t, nobody, "explain", "--rules", dump, "--node-ip", "192.168.2.146", "--src", "192.168.1.51", "--from", "external", "--dst", "192.168.2.146:32392", "-o", "json")
	if os.Geteuid() != 0 {
		r = nlbsim(t, "explain", "--rules", dump, "--node-ip", "192.168.2.146", "--src", "192.168.1.51", "--from", "external", "--dst", "192.168.2.146:32392", "-o", "json")
	}
	require.Equal(t, 0, r.code, r.stderr)
	var report explain.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report))
	require.Len(t, report.Outcomes, 3)
	sum := 0.0
	for _, o := range report.Outcomes {
		assert.Equal(t, explain.VerdictDNAT, o.Verdict)
		assert.True(t, o.Masquerade, "NodePort traffic with eTP=Cluster is masqueraded")
		sum += o.Probability
	}
	assert.InDelta(t, 1, sum, 1e-12)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "--dst", "10.100.30.185:7777"}, "exactly one of --rules"},
		{[]string{"explain", "--rules", dump}, "--dst"},
		{[]string{"explain", "--rules", dump, "--dst", "10.100.30.185"}, "10.100.30.185"},
		{[]string{"explain", "--rules", dump, "--dst", "10.100.30.185:7777", "--from", "moon"}, "moon"},
		{[]string{"explain", "--rules", "/etc/hostname", "--dst", "10.100.30.185:7777", "--src", "192.168.1.248"}, "line"},
	} {
		r := nlbsim(t, c.args...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
	}
}
