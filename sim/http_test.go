package sim_test

import (
	"io"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nlbsim/nlbsim/sim"
)

// httpStatus GETs url from a host and returns the status and body, whatever
// the status.
func httpStatus(t *testing.T, c *sim.Cluster, from, url string) (int, string) {
	t.Helper()
	client, err := c.HTTPClient(from)
	require.NoError(t, err)
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
