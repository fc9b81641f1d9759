package netns_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/sim/simtest"
)

// scratch makes a namespace of its own for one test, with lo up and a
// veth pair whose end v0 holds 10.9.0.1/24: nothing owns 10.9.0.2, so its
// ARP requests go unanswered and a SYN to it is never sent.
func scratch(t *testing.T) netns.Handle {
	t.Helper()
	simtest.RequireRoot(t)
	name := fmt.Sprintf("nlbsim-dialtest-%d", os.Getpid())
	netns.Delete(name)
	require.NoError(t, netns.Create(name, nil))
	t.Cleanup(func() { netns.Delete(name) })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"addr", "add", "10.9.0.1/24", "dev", "v0"},
		{"link", "set", "v0", "up"},
		{"link", "set", "v1", "up"},
	} {
		out, err := exec.Command("ip", append([]string{"-n", name}, args...)...).CombinedOutput()
		require.NoError(t, err, "ip %v: %s", args, out)
	}
	ns, err := netns.Open(name)
	require.NoError(t, err)
	t.Cleanup(func() { ns.Close() })
	return ns
}

// The dialer's sockets live in the namespace, whichever thread waits for
// the handshake: connections reach a listener there (and only there, on
// its loopback), a closed port is refused at once, a silent address times
// out as a net.Error that says so, and a cancelled context ends a dial.
func TestDialerConnectsFromTheNamespace(t *testing.T) {
	ns := scratch(t)
	l, err := netns.Listen(ns, "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()

	// The host's own loopback has no such listener: a success proves the
	// socket was made in the namespace.
	d := netns.NewDialer(ns, 2*time.Second)
	var wg sync.WaitGroup
	for i := range 300 { // more than a few threads' worth at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := d.DialContext(context.Background(), "tcp4", l.Addr().String())
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			msg := fmt.Sprintf("hello %d", i)
			_, err = c.Write([]byte(msg))
			assert.NoError(t, err)
			buf := make([]byte, len(msg))
			_, err = io.ReadFull(c, buf)
			assert.NoError(t, err)
			assert.Equal(t, msg, string(buf))
		}()
	}
	wg.Wait()

	port := l.Addr().(*net.TCPAddr).Port
	_, err = d.DialContext(context.Background(), "tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "refused: %v", err)

	quick := netns.NewDialer(ns, 200*time.Millisecond)
	start := time.Now()
	_, err = quick.DialContext(context.Background(), "tcp4", "10.9.0.2:80")
	require.Error(t, err)
	var ne net.Error
	require.True(t, errors.As(err, &ne), "%T: %v", err, err)
	assert.True(t, ne.Timeout(), "a timeout: %v", err)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "not before its timeout")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = d.DialContext(ctx, "tcp4", "10.9.0.2:80")
	assert.ErrorIs(t, err, context.Canceled)
}
