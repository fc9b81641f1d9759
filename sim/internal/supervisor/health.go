package supervisor

import (
	"fmt"
	"net/http"
	"time"

	"github.com/nlbsim/nlbsim/nat"
	"github.com/nlbsim/nlbsim/topology"
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

// serviceHealthHandler answers like kube-proxy's healthCheckNodePort server
// for an externalTrafficPolicy=Local Service: any path, 200 with the count
// of local ready endpoints, 503 when there are none.
func serviceHealthHandler(world func() *topology.World, svc topology.Service, node string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		nat.ServeHealthCheckNodePort(rw, svc.Namespace, svc.Name, nat.LocalReadyEndpoints(world(), svc, node), true)
	})
}
