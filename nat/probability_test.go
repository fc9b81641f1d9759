package nat

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Vectors from upstream's computeProbability and TestComputeProbability (https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/iptables/proxier_test.go).
func TestStatisticProbability(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "1.0000000000"},
		{2, "0.5000000000"},
		{3, "0.3333333333"},
		{4, "0.2500000000"},
		{5, "0.2000000000"},
		{7, "0.1428571429"},
		{10, "0.1000000000"},
		{100000, "0.0000100000"},
		{100001, "0.0000099999"},
	} {
		assert.Equal(t, tc.want, StatisticProbability(tc.n), "n=%d", tc.n)
	}
}

func TestStatisticProbabilityDecreases(t *testing.T) {
	prev := 2.0
	for n := 1; n <= 100001; n++ {
		p, err := strconv.ParseFloat(StatisticProbability(n), 64)
		require.NoError(t, err)
		require.Less(t, p, prev, "n=%d", n)
		prev = p
	}
}

// What iptables-save prints after the kernel
// stored lround(0x80000000 * p).
func TestSavedProbability(t *testing.T) {
	for _, tc := range []struct {
		written string
		u32     uint32
		saved   string
	}{
		{"0.5000000000", 1073741824, "0.50000000000"},
		{"0.3333333333", 715827883, "0.33333333349"},
		{"0.2500000000", 536870912, "0.25000000000"},
		{"0.2000000000", 429496730, "0.20000000019"},
		{"0.1428571429", 306783378, "0.14285714272"},
		{"0.1000000000", 214748365, "0.10000000009"},
	} {
		p, err := strconv.ParseFloat(tc.written, 64)
		require.NoError(t, err)
		assert.Equal(t, tc.saved, SavedProbability(p), tc.written)
		assert.Equal(t, float64(tc.u32)/0x80000000, KernelProbability(p), tc.written)
	}
}
