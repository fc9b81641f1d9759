package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
)

func TestUIBadUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ui", "--address", "8080"}, 2, "--address: address 8080: missing port in address"},
		{[]string{"ui", "extra"}, 2, `unknown command "extra"`},
		{[]string{"ui", "--name", "ui-no-such-cluster"}, 1, `no cluster "ui-no-such-cluster" is running`},
	} {
		r := nlbsim(t, c.args...)
		assert.Equal(t, c.code, r.code, "%v: %s", c.args, r.stderr)
		assert.Contains(t, r.stderr, c.want, "%v", c.args)
	}
}

// `nlbsim ui` of a cluster the CLI started: it prints a URL with a token,
// reads without it, refuses changes without it, and shows a trace run
// from the CLI.
func TestUI_Command(t *testing.T) {
	name, _ := upForTest(t, "--minimal")
	cmd := exec.Command(binary, "ui", "--name", name, "--address", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "http://127.0.0.1:") {
			url = line
			break
		}
	}
	require.Contains(t, url, "/?token=", "stderr: %s", stderr.String())
	assert.Empty(t, stderr.String(), "no warning on loopback")
	base := strings.Split(url, "/?")[0]

	r := nlbsim(t, "trace", "--name", name, "-n", "2")
	require.Equal(t, 0, r.code, r.stderr)
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			Runs struct{ Recent []sim.Run } `json:"runs"`
		}
		return json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Runs.Recent) == 1 && len(st.Runs.Recent[0].Trace.Requests) == 2
	}, 10*time.Second, 100*time.Millisecond, "the CLI's trace shows in the UI")

	resp, err := http.Post(base+"/api/scale", "application/json", strings.NewReader(`{"replicas": 1}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no token: read-only")
	w, err := sim.LoadWorld(name)
	require.NoError(t, err)
	assert.Equal(t, 3, w.Deployments[0].Replicas)
}

// Listening beyond loopback warns.
func TestUI_WarnsBeyondLoopback(t *testing.T) {
	name, _ := upForTest(t, "--minimal")
	cmd := exec.Command(binary, "ui", "--name", name, "--address", "0.0.0.0:0")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, _ := bufio.NewReader(stderr).ReadString('\n')
	assert.Contains(t, line, "Warning: listening on 0.0.0.0:0, not loopback")
}
