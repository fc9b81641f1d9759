package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/simtest"
)

// Bad capture flags exit 2 before anything, root or not, and leave no file.
func TestCaptureBadUsage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "x.pcapng")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"capture"}, "capture needs a file"},
		{[]string{"capture", "bastion"}, "capture needs a file"},
		{[]string{"capture", "-w"}, "flag needs an argument"},
		{[]string{"capture", "-w", file, "--port", "0"}, "--port: 0 is out of range"},
		{[]string{"capture", "-w", file, "--port", "70000"}, "--port: 70000 is out of range"},
		{[]string{"capture", "-w", file, "--port", "http"}, `invalid argument "http"`},
		{[]string{"capture", "-w", file, "--duration", "-1s"}, "--duration: -1s is negative"},
		{[]string{"capture", "-w", file, "--duration", "soon"}, `invalid argument "soon"`},
		{[]string{"capture", "-w", file, "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"capture", "-w", file, "--name", "UPPER"}, "is not a DNS label"},
	}
	for _, c := range cases {
		for _, who := range []*syscall.Credential{nil, nobody} {
			if who == nil && os.Geteuid() != 0 {
				continue
			}
			r := nlbsimAs(t, who, c.args...)
			assert.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
			assert.Contains(t, r.stderr, c.want, "%v", c.args)
		}
	}
	assert.NoFileExists(t, file)
}

// Without root, capture says so and exits 1 before it writes a file.
func TestCaptureNeedsRoot(t *testing.T) {
	simtest.RequireRoot(t) // to switch to an unprivileged user
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	file := filepath.Join(dir, "x.pcapng")
	r := nlbsimAs(t, nobody, "capture", "-w", file, "--duration", "1s")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "needs root")
	assert.NoFileExists(t, file)
}

// A user's session: capture the bastion and the NLB node in AZ a, curl
// through it, Ctrl-C; the file holds the request at both hosts.
func TestCaptureEndToEnd(t *testing.T) {
	simtest.RequireRoot(t)
	name := simtest.ClusterName(t)
	t.Cleanup(func() { nlbsim(t, "down", "--name", name) })
	r := nlbsim(t, "up", "--minimal", "--name", name)
	require.Equal(t, 0, r.code, r.stderr)
	file := filepath.Join(t.TempDir(), "path.pcapng")

	r = nlbsim(t, "capture", "--name", name, "node-9", "-w", file)
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, `unknown host "node-9"`)
	assert.NoFileExists(t, file)

	cmd := exec.Command(binary, "capture", "--name", name, "bastion", "nlb", "-w", file, "--port", "7777")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	errLines := bufio.NewScanner(stderr)
	require.True(t, errLines.Scan(), "capture says when it has started")
	require.Contains(t, errLines.Text(), "capturing on 2 interfaces")
	go io.Copy(io.Discard, stderr)

	r = nlbsim(t, "exec", "--name", name, "bastion", "--", "curl", "-s", "--max-time", "5", "192.168.1.51:7777")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "Ctrl-C ends a capture with success")
	case <-time.After(10 * time.Second):
		t.Fatal("capture did not stop on SIGINT")
	}
	out := stdout.String()
	assert.Contains(t, out, "INTERFACE")
	assert.Regexp(t, `(?m)^bastion/eth0 +[1-9][0-9]* +0 +[0-9]+$`, out)
	assert.Regexp(t, `(?m)^nlb-a/eth0 +[1-9][0-9]* +0 +[0-9]+$`, out)

	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	rd, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	type syn struct {
		iface string
		seq   uint32
		src   string
	}
	var syns []syn
	for {
		data, ci, err := rd.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		intf, err := rd.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.SYN && !tcp.ACK {
			syns = append(syns, syn{intf.Name, tcp.Seq, p.NetworkLayer().NetworkFlow().Src().String()})
		}
	}
	// Health checks from the NLB node may add SYNs of their own.
	var seq uint32
	var at []string
	for _, s := range syns {
		if s.src == "192.168.1.100" && s.iface == "bastion/eth0" {
			seq = s.seq
		}
	}
	for _, s := range syns {
		if s.seq == seq {
			at = append(at, s.iface)
		}
	}
	assert.Equal(t, []string{"bastion/eth0", "nlb-a/eth0", "nlb-a/eth0"}, at,
		"the SYN leaves the bastion, enters the NLB node and leaves it DNATed")
}
