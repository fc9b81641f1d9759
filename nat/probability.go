package nat

import (
	"fmt"
	"math"
)

// StatisticProbability is the --probability kube-proxy writes on the rule
// that picks one of the n endpoints not yet passed over: 1/n as %0.10f.
// The last endpoint of a chain gets no statistic match at all.
func StatisticProbability(n int) string {
	return fmt.Sprintf("%0.10f", 1.0/float64(n))
}

// statisticScale is the fixed-point scale of xt_statistic: the kernel
// matches when (random & 0x7FFFFFFF) < lround(p * statisticScale).
const statisticScale = 0x80000000

// KernelProbability is the probability the kernel really applies for a
// --probability p: the fixed-point value iptables stores, scaled back.
func KernelProbability(p float64) float64 {
	return float64(uint32(math.Round(p*statisticScale))) / statisticScale
}

// SavedProbability is how iptables-save prints a --probability p:
// 0.3333333333 comes back as 0.33333333349.
func SavedProbability(p float64) string {
	return fmt.Sprintf("%.11f", KernelProbability(p))
}
