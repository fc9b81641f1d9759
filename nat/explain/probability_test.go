package explain

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kernelCascade is the chance of each of n endpoints as the kernel draws
// them: rule i matches with threshold(n-i)/2^31 when every earlier rule
// failed, where threshold(k) = lround(2^31/k); the last rule takes the rest.
func kernelCascade(n int) []*big.Rat {
	remaining := big.NewRat(1, 1)
	chances := make([]*big.Rat, n)
	for i := 0; i < n-1; i++ {
		k := int64(n - i)
		threshold := (int64(1<<31) + k/2) / k // lround(2^31/k), exact in integers
		p := big.NewRat(threshold, 1<<31)
		chances[i] = new(big.Rat).Mul(remaining, p)
		remaining.Mul(remaining, new(big.Rat).Sub(big.NewRat(1, 1), p))
	}
	chances[n-1] = remaining
	return chances
}

func TestProbabilitiesAreTheKernelsCascade(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 10} {
		d := parseDump(t, kubeProxyDump(1, n))
		r := walkFrom(t, d, nodeOptions("192.168.0.2"), "10.0.0.2", serviceIP(0)+":80", "tcp", FromPod)
		require.Len(t, r.Outcomes, n)
		want := kernelCascade(n)
		sum := new(big.Rat)
		for i, o := range r.Outcomes {
			assert.Equal(t, endpointIP(0, i)+":8080", o.Target.String())
			assert.Zero(t, want[i].Cmp(o.Exact), "n=%d endpoint %d: got %s, want %s", n, i, o.Exact, want[i])
			f, _ := want[i].Float64()
			assert.Equal(t, f, o.Probability)
			sum.Add(sum, o.Exact)
		}
		assert.Zero(t, sum.Cmp(big.NewRat(1, 1)), "n=%d: probabilities sum to %s", n, sum)
	}
}

func TestFirstOfThreeIsTheRoundedThreshold(t *testing.T) {
	d := parseDump(t, kubeProxyDump(1, 3))
	r := walkFrom(t, d, Options{}, "10.0.0.2", serviceIP(0)+":80", "tcp", FromPod)
	assert.Zero(t, big.NewRat(715827883, 1<<31).Cmp(r.Outcomes[0].Exact))
	assert.Equal(t, 0.33333333348855376, r.Outcomes[0].Probability)
	assert.Zero(t, big.NewRat(1431655765, 1<<32).Cmp(r.Outcomes[1].Exact), "(1-715827883/2^31)/2")
}

func TestKernelProbability(t *testing.T) {
	assert.Zero(t, big.NewRat(1, 2).Cmp(KernelProbability(1<<30)))
	assert.Zero(t, big.NewRat(1, 1).Cmp(KernelProbability(1<<31)))
}
