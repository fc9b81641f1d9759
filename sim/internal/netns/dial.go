package netns

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Dialer dials from inside a network namespace: the socket is made there,
// so the connection's packets start from that host.
type Dialer struct {
	ns Handle
	d  net.Dialer
}

// NewDialer returns a dialer whose sockets are made in ns; a zero timeout
// leaves connecting to the context.
func NewDialer(ns Handle, timeout time.Duration) *Dialer {
	return &Dialer{ns: ns, d: net.Dialer{Timeout: timeout}}
}

// DialContext creates the socket inside the namespace and connects it.
func (n *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := In(n.ns, func() error {
		var err error
		c, err = n.d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient is an HTTP client whose connections start in ns. With
// keepAlive false every request opens a new connection.
func HTTPClient(ns Handle, timeout time.Duration, keepAlive bool) *http.Client {
	d := NewDialer(ns, timeout)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       d.DialContext,
			DisableKeepAlives: !keepAlive,
			Proxy:             nil,
		},
	}
}

// Listen opens a TCP listener inside a namespace.
func Listen(ns Handle, addr string) (net.Listener, error) {
	var l net.Listener
	err := In(ns, func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	})
	return l, err
}
