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

// explainJSON runs explain with -o json and decodes the report.
func explainJSON(t *testing.T, args ...string) explain.Report {
	t.Helper()
	r := nlbsim(t, append([]string{"explain", "-o", "json"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	var report explain.Report
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &report), r.stdout)
	return report
}

// kube-dns's UDP port, on the default world's node-1, from a pod.
func TestExplainUDP(t *testing.T) {
	r := nlbsim(t, "rules", "--node", "node-1", "--name", "explain-none")
	require.Equal(t, 0, r.code, r.stderr)
	dump := filepath.Join(t.TempDir(), "node-1.rules")
	require.NoError(t, os.WriteFile(dump, []byte(r.stdout), 0o644))

	report := explainJSON(t, "--rules", dump, "-p", "udp", "--src", "192.168.1.248", "--dst", "10.100.0.10:53")
	assert.Equal(t, "udp", report.Packet.Proto)
	require.Len(t, report.Outcomes, 2)
	targets := map[string]float64{}
	for _, o := range report.Outcomes {
		assert.Equal(t, explain.VerdictDNAT, o.Verdict)
		assert.Contains(t, o.Path, "KUBE-SVC-TCOU7JCQXEZGVUNU", "kube-system/kube-dns:dns over udp")
		targets[o.Target.String()] = o.Probability
	}
	assert.Equal(t, map[string]float64{"192.168.3.62:53": 0.5, "192.168.3.202:53": 0.5}, targets)
	assert.Equal(t, "eni0", report.Interfaces.In)
	assert.Equal(t, explain.SourceInferred, report.Interfaces.InSource)
	assert.Equal(t, "aws-vpc-cni", report.Interfaces.CNI)

	// The same address and port over TCP is dns-tcp's chain.
	report = explainJSON(t, "--rules", dump, "--protocol", "tcp", "--src", "192.168.1.248", "--dst", "10.100.0.10:53")
	require.Len(t, report.Outcomes, 2)
	assert.NotContains(t, report.Outcomes[0].Path, "KUBE-SVC-TCOU7JCQXEZGVUNU")
}

// Bad usage is exit 2 and is found before the dump is read: here the dump
// does not even exist.
func TestExplainUsageIsCheckedFirst(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such.rules")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dst", "10.100.0.10:53"}, "--src: missing; a packet from a pod"},
		{[]string{"--dst", "10.100.0.10:53", "--from", "external"}, "--src: missing; a packet from a external"},
		{[]string{"--dst", "10.100.0.10:53", "--from", "node"}, "--node-ip: missing"},
		{[]string{"--dst", "10.100.0.10:53", "--from", "node", "--node-ip", "192.168.1.118", "--in-interface", "eth0"}, "arrives on no interface"},
		{[]string{"--dst", "10.100.0.10:53", "--src", "192.168.1.248", "-p", "icmp"}, `-p: unknown protocol "icmp"`},
		{[]string{"--dst", "10.100.0.10:53", "--src", "192.168.1.248", "--in-interface", "cali+"}, `--in-interface: interface "cali+"`},
		{[]string{"--dst", "10.100.0.10:53", "--src", "192.168.1.248", "--out-interface", "a-name-far-too-long"}, "--out-interface"},
	} {
		r := nlbsim(t, append([]string{"explain", "--rules", missing}, c.args...)...)
		assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
		assert.NotContains(t, r.stderr, "no-such.rules", "%v: checked before the file is opened", c.args)
	}
}

// A pasted fragment with several bad lines: every one is named, exit 2.
func TestExplainReportsEveryParseError(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "pasted.rules")
	require.NoError(t, os.WriteFile(dump, []byte(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m c
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU
COMMIT
`), 0o644))
	r := nlbsim(t, "explain", "--rules", dump, "-p", "udp", "--src", "10.244.1.5", "--dst", "10.96.0.10:53")
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "pasted.rules: 2 lines that iptables-restore would refuse")
	assert.Contains(t, r.stderr, "pasted.rules:5: -m c: no such match module")
	assert.Contains(t, r.stderr, "pasted.rules:6: -j KUBE-SVC-TCOU7JCQXEZGVUNU: no such chain or target")
}

// A rule the walker cannot follow is listed; the rest is walked, exit 0.
func TestExplainWalksAroundAnUnevaluableRule(t *testing.T) {
	dump := filepath.Join(t.TempDir(), "live.rules")
	require.NoError(t, os.WriteFile(dump, []byte(`*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1
-A KUBE-SVC-A -j KUBE-SEP-2
-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination :0 --persistent --persistent
-A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080
COMMIT
`), 0o644))
	report := explainJSON(t, "--rules", dump, "--src", "10.244.1.5", "--dst", "10.96.0.20:80")
	require.Len(t, report.Outcomes, 1)
	assert.Equal(t, "10.244.2.7:8080", report.Outcomes[0].Target.String())
	require.Len(t, report.NotModelled, 1)
	assert.Equal(t, 11, report.NotModelled[0].Line)
	assert.Contains(t, report.NotModelled[0].Reason, "neither an address nor a port")
}

// --in-interface and --out-interface decide docker0's masquerade rule.
func TestExplainInterfaceOptions(t *testing.T) {
	dump := "../../nat/explain/testdata/docker.rules"
	base := []string{"--rules", dump, "--node-ip", "192.168.0.10", "-p", "udp", "--src", "172.17.0.2", "--dst", "203.0.113.7:9"}
	inferred := explainJSON(t, base...)
	require.Len(t, inferred.Outcomes, 1)
	assert.True(t, inferred.Outcomes[0].Masquerade)
	assert.Equal(t, explain.Interfaces{In: "docker0", InSource: explain.SourceInferred, OutSource: explain.SourceRouted, Uplink: "eth0",
		Routes: []explain.RouteSummary{{Prefix: "172.17.0.0/16", Interface: "docker0", Source: explain.SourceInferred}},
		CNI:    "docker", Evidence: inferred.Interfaces.Evidence}, inferred.Interfaces)

	bridged := explainJSON(t, append(base, "--in-interface", "docker0", "--out-interface", "docker0")...)
	require.Len(t, bridged.Outcomes, 1)
	assert.False(t, bridged.Outcomes[0].Masquerade, "! -o docker0 does not match a packet leaving by docker0")
	assert.Equal(t, "docker0", bridged.Outcomes[0].OutInterface)
	assert.Equal(t, explain.SourceOption, bridged.Interfaces.OutSource)

	r := nlbsim(t, append([]string{"explain"}, append(base, "--in-interface", "docker0", "--out-interface", "eth0")...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "interfaces: in docker0 (option), out eth0 (option)")
	assert.Contains(t, r.stdout, "masquerade to 192.168.0.10")
}
