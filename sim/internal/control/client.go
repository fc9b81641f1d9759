package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// Client talks to one cluster's supervisor.
type Client struct {
	cluster string
	http    *http.Client
}

// NewClient returns a client of a cluster's supervisor.
func NewClient(cluster string) *Client {
	return &Client{cluster: cluster, http: &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", state.SocketFile(cluster))
		}},
	}}
}

// Do asks the supervisor to carry out an action.
func (c *Client) Do(ctx context.Context, a Action) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return c.post(ctx, "/do", body)
}

// Reload asks the supervisor to apply the saved world.
func (c *Client) Reload(ctx context.Context) error { return c.post(ctx, "/reload", nil) }

func (c *Client) post(ctx context.Context, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://supervisor"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.notRunning(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	text := strings.TrimSpace(string(msg))
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", strings.TrimSuffix(text, ": "+simerr.ErrNotFound.Error()), simerr.ErrNotFound)
	case http.StatusBadRequest:
		return &topology.InvalidError{Err: errors.New(text)}
	}
	return errors.New(text)
}

func (c *Client) notRunning(err error) error {
	return fmt.Errorf("the supervisor of cluster %q is not answering (%v): %w", c.cluster, err, simerr.ErrNotRunning)
}
