package sim

import (
	"fmt"
	"net/http"
	"time"
)

// proxierHealthHandler answers like kube-proxy's own health server on
// :10256: /healthz with the node's eligibility, /livez without it.
func proxierHealthHandler() http.Handler {
	mux := http.NewServeMux()
	body := func(withEligible bool) string {
		now := time.Now().String()
		if withEligible {
			return fmt.Sprintf(`{"lastUpdated": %q,"currentTime": %q, "nodeEligible": true}`, now, now)
		}
		return fmt.Sprintf(`{"lastUpdated": %q,"currentTime": %q}`, now, now)
	}
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprint(rw, body(true))
	})
	mux.HandleFunc("/livez", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		fmt.Fprint(rw, body(false))
	})
	return mux
}
