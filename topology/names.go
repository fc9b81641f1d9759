package topology

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// podAlphabet is the one Kubernetes uses for generated name suffixes
// (k8s.io/apimachinery/pkg/util/rand): no vowels, no confusable digits.
const podAlphabet = "bcdfghjklmnpqrstvwxz2456789"

func hashBytes(parts ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

func hashUint(parts ...string) uint64 {
	h := hashBytes(parts...)
	return binary.BigEndian.Uint64(h[:8])
}

func hexHash(n int, parts ...string) string {
	h := hashBytes(parts...)
	return hex.EncodeToString(h[:])[:n]
}

// podSuffix is the deterministic 5-character suffix of the i-th pod an owner made.
func podSuffix(cluster, owner string, i int) string {
	h := hashBytes(cluster, owner, string(rune('0'+i%10)), strings.Repeat("+", i/10))
	var b strings.Builder
	for k := 0; k < 5; k++ {
		b.WriteByte(podAlphabet[int(h[k])%len(podAlphabet)])
	}
	return b.String()
}

// sanitize keeps what the Load Balancer Controller keeps of a name for the
// NLB's name: letters and digits.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
