package simtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nlbsim/nlbsim/sim"
)

// Traffic sends traffic through a test cluster and fails the test if it
// cannot run (failed requests are counted in the report, not fatal).
func Traffic(t testing.TB, c *sim.Cluster, opts sim.TrafficOptions) *sim.TrafficReport {
	t.Helper()
	r, err := c.Traffic(context.Background(), opts)
	if err != nil {
		t.Fatalf("traffic: %v", err)
	}
	return r
}

// AssertDistribution asserts that observed counts fit an expected
// distribution: Pearson's chi-square test must not reject it at alpha
// (use 1e-4, with enough requests to have power).
func AssertDistribution(t testing.TB, got map[string]int, expected map[string]float64, alpha float64) bool {
	t.Helper()
	chi, p, ok := sim.ChiSquareFit(got, expected)
	if !assert.True(t, ok, "a fit needs observations in at least two categories: got %v, expected %v", got, expected) {
		return false
	}
	return assert.GreaterOrEqual(t, p, alpha, "counts %v do not fit %v: chi-square %.3f, p-value %.3g < alpha %g", got, expected, chi, p, alpha)
}
