package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/echo"
	"github.com/nlbsim/nlbsim/sim/internal/netns"
	"github.com/nlbsim/nlbsim/topology"
)

// Get sends one HTTP GET from a host of the cluster on a new connection and
// decodes the pod's echo reply.
func (c *Cluster) Get(ctx context.Context, fromHost, url string) (echo.Reply, error) {
	return Get(ctx, c.World, fromHost, url)
}

// HTTPClient returns a client whose every request opens a new connection
// from a host of the cluster.
func (c *Cluster) HTTPClient(fromHost string) (*http.Client, error) {
	h, err := c.World.Lookup(fromHost)
	if err != nil {
		return nil, err
	}
	ns, err := netns.Open(h.Namespace)
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, ns.Close)
	return netns.HTTPClient(ns, 5*time.Second, false), nil
}

// Get sends one HTTP GET from a host of a running world on a new connection
// and decodes the pod's echo reply.
func Get(ctx context.Context, w *topology.World, fromHost, url string) (echo.Reply, error) {
	var r echo.Reply
	h, err := w.Lookup(fromHost)
	if err != nil {
		return r, err
	}
	ns, err := netns.Open(h.Namespace)
	if err != nil {
		return r, err
	}
	defer ns.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return r, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := netns.HTTPClient(ns, 5*time.Second, false).Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET %s from %s: HTTP %d: %s", url, fromHost, resp.StatusCode, body)
	}
	return r, json.Unmarshal(body, &r)
}

// Traffic sends traffic from a host of the cluster: see Traffic.
func (c *Cluster) Traffic(ctx context.Context, opts TrafficOptions) (*TrafficReport, error) {
	return Traffic(ctx, c.World, opts)
}

// Dial opens a connection from a host of the cluster: a socket made in
// that host's namespace, for clients of one's own.
func (c *Cluster) Dial(ctx context.Context, fromHost, network, addr string) (net.Conn, error) {
	h, err := c.World.Lookup(fromHost)
	if err != nil {
		return nil, err
	}
	ns, err := netns.Open(h.Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	d := netns.NewDialer(ns, 5*time.Second)
	return d.DialContext(ctx, network, addr)
}
