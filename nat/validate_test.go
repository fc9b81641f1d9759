package nat

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nlbsim/nlbsim/topology"
)

func TestValidateService(t *testing.T) {
	valid := func() topology.Service {
		s := clusterIPService("shop", "web", "10.100.50.9", tcpPort("http", 80, "8080", 30080))
		s.Type = "NodePort"
		return s
	}
	assert.NoError(t, ValidateService(valid()))
	for _, s := range topology.Default().Services {
		assert.NoError(t, ValidateService(s), s.Key())
	}

	for _, tc := range []struct {
		edit func(*topology.Service)
		want string
	}{
		{func(s *topology.Service) { s.Ports[0].Port = 0 }, "service shop/web: spec.ports[0].port: 0 is out of range (1–65535)"},
		{func(s *topology.Service) { s.Ports[0].Port = 65536 }, "service shop/web: spec.ports[0].port: 65536 is out of range (1–65535)"},
		{func(s *topology.Service) { s.Ports[0].TargetPort = "70000" }, "service shop/web: spec.ports[0].targetPort: 70000 is out of range (1–65535)"},
		{func(s *topology.Service) { s.Ports[0].NodePort = 29999 }, "service shop/web: spec.ports[0].nodePort: 29999 is outside the node port range 30000–32767"},
		{func(s *topology.Service) { s.Ports[0].NodePort = 32768 }, "service shop/web: spec.ports[0].nodePort: 32768 is outside the node port range 30000–32767"},
		{func(s *topology.Service) { s.HealthCheckNodePort = 80 }, "service shop/web: spec.healthCheckNodePort: 80 is outside the node port range 30000–32767"},
		{func(s *topology.Service) { s.Ports[0].Protocol = "tcp" }, `service shop/web: spec.ports[0].protocol: unknown protocol "tcp" (valid: TCP, UDP, SCTP)`},
		{func(s *topology.Service) {
			s.Ports = append(s.Ports, tcpPort("admin", 99999, "9000", 0))
		}, "service shop/web: spec.ports[1].port: 99999 is out of range (1–65535)"},
	} {
		s := valid()
		tc.edit(&s)
		assert.EqualError(t, ValidateService(s), tc.want)
	}
}

// A selector that matches no pod is valid and gives REJECT rules.
func TestSelectorMatchingNothing(t *testing.T) {
	w := topology.Default()
	orphan := clusterIPService("default", "orphan", "10.100.70.1", tcpPort("", 80, "8080", 0))
	orphan.Selector = map[string]string{"app": "nobody"}
	w.Services = append(w.Services, orphan)
	rs := ruleset(t, w, "node-1")
	assert.Equal(t, lines(`
-A KUBE-SERVICES -m comment --comment "default/orphan has no endpoints" -m tcp -p tcp -d 10.100.70.1 --dport 80 -j REJECT
`), chainText(rs, TableFilter, kubeServicesChain))
}
