package sim

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/vishvananda/netns"
)

// NamespaceDialer dials from inside a network namespace: the socket is made
// there, so the connection's packets start from that host.
type NamespaceDialer struct {
	ns netns.NsHandle
	d  net.Dialer
}

// DialContext creates the socket inside the namespace and connects it.
func (n *NamespaceDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(n.ns, func() error {
		var err error
		c, err = n.d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// httpClient is an HTTP client whose connections start in ns. With
// keepAlive false every request opens a new connection.
func httpClient(ns netns.NsHandle, timeout time.Duration, keepAlive bool) *http.Client {
	d := &NamespaceDialer{ns: ns, d: net.Dialer{Timeout: timeout}}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       d.DialContext,
			DisableKeepAlives: !keepAlive,
			Proxy:             nil,
		},
	}
}

// listenIn opens a TCP listener inside a namespace.
func listenIn(ns netns.NsHandle, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNamespace(ns, func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	})
	return l, err
}
