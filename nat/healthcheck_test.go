package nat

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nlbsim/nlbsim/topology"
)

// As https://github.com/kubernetes/kubernetes/blob/v1.30.14/pkg/proxy/healthcheck/service_health.go writes it: tab-indented JSON, fixed field order, no
// trailing newline; 200 only with local endpoints and a healthy proxy.
func TestHealthCheckNodePortResponse(t *testing.T) {
	status, body := HealthCheckNodePortResponse("default", "nginx-nlb-service", 1, true)
	assert.Equal(t, 200, status)
	assert.Equal(t, "{\n"+
		"\t\"service\": {\n"+
		"\t\t\"namespace\": \"default\",\n"+
		"\t\t\"name\": \"nginx-nlb-service\"\n"+
		"\t},\n"+
		"\t\"localEndpoints\": 1,\n"+
		"\t\"serviceProxyHealthy\": true\n"+
		"}", body)

	for _, tc := range []struct {
		local   int
		healthy bool
		status  int
	}{{0, true, 503}, {2, false, 503}, {0, false, 503}, {3, true, 200}} {
		status, body := HealthCheckNodePortResponse("shop", "ten", tc.local, tc.healthy)
		assert.Equal(t, tc.status, status, "%d %v", tc.local, tc.healthy)
		assert.Contains(t, body, "\t\"serviceProxyHealthy\": "+map[bool]string{true: "true", false: "false"}[tc.healthy]+"\n}")
	}
}

// Distinct IPs of Ready endpoints on the node, across the Service's ports.
func TestLocalReadyEndpoints(t *testing.T) {
	w := servicesWorld(t)
	ten, _ := w.Service("shop", "ten")
	assert.Equal(t, 4, LocalReadyEndpoints(w, ten, "node-1"))
	assert.Equal(t, 3, LocalReadyEndpoints(w, ten, "node-2"))
	multi, _ := w.Service("default", "multi") // two ports, one pod
	assert.Equal(t, 1, LocalReadyEndpoints(w, multi, "node-2"))
	assert.Equal(t, 0, LocalReadyEndpoints(w, multi, "node-1"))
	app, _ := topology.Default().Service(topology.AppNamespace, topology.AppService)
	assert.Equal(t, 1, LocalReadyEndpoints(topology.Default(), app, "node-3"))
}

// The whole answer, headers included, as upstream's hcHandler writes it.
func TestServeHealthCheckNodePort(t *testing.T) {
	rec := httptest.NewRecorder()
	ServeHealthCheckNodePort(rec, "default", "nginx-nlb-service", 2, true)
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "2", rec.Header().Get("X-Load-Balancing-Endpoint-Weight"))
	_, body := HealthCheckNodePortResponse("default", "nginx-nlb-service", 2, true)
	assert.Equal(t, body, rec.Body.String())

	rec = httptest.NewRecorder()
	ServeHealthCheckNodePort(rec, "default", "nginx-nlb-service", 0, true)
	assert.Equal(t, 503, rec.Code)
	assert.Equal(t, "0", rec.Header().Get("X-Load-Balancing-Endpoint-Weight"))
}
