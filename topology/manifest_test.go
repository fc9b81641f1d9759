package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// manifestSpec is the spec of `up -f paths…` with no mode or policy flag.
func manifestSpec(t *testing.T, paths ...string) Spec {
	t.Helper()
	ms, err := ReadManifests(paths)
	require.NoError(t, err)
	spec := DefaultSpec()
	spec.Mode, spec.ExternalTrafficPolicy, spec.Manifests = "", "", ms
	return spec
}

func buildManifests(t *testing.T, spec Spec, docs ...Manifest) *World {
	t.Helper()
	spec.Mode, spec.ExternalTrafficPolicy, spec.Manifests = "", "", docs
	w, err := Build(spec)
	require.NoError(t, err)
	return w
}

// The walkthrough's ip manifest gives exactly the default world: every
// object, name and address but the manifest's text in the spec.
func TestIPManifestIsTheDefaultWorld(t *testing.T) {
	w, err := Build(manifestSpec(t, "testdata/nlb_ip_mode.yaml"))
	require.NoError(t, err)
	d := Default()
	assert.Empty(t, w.Warnings)
	assert.Equal(t, d.Deployments, w.Deployments)
	assert.Equal(t, d.Services, w.Services)
	assert.Equal(t, d.Pods, w.Pods)
	assert.Equal(t, d.HostNetworkPods, w.HostNetworkPods)
	assert.Equal(t, d.LoadBalancers, w.LoadBalancers)
	assert.Equal(t, d.Hosts(), w.Hosts())
	assert.Equal(t, d.NextAddress, w.NextAddress)
	assert.Equal(t, d.Targets(d.LoadBalancers[0]), w.Targets(w.LoadBalancers[0]))
	svc, _ := w.Service("default", "nginx-nlb-service")
	assert.Equal(t, "10.100.30.185", svc.ClusterIP.String())
	assert.Equal(t, 32392, svc.Ports[0].NodePort)

	got, want := *w, *d
	got.Spec.Manifests, got.Spec.Mode, got.Spec.ExternalTrafficPolicy = nil, want.Spec.Mode, want.Spec.ExternalTrafficPolicy
	assert.Equal(t, want, got, "nothing but the manifest differs")
}

// The instance manifest differs from the ip one in the target type and
// what follows from it (AWS preserves client IPs of instance targets).
func TestInstanceManifestDiffersOnlyInTargetType(t *testing.T) {
	ip, err := Build(manifestSpec(t, "testdata/nlb_ip_mode.yaml"))
	require.NoError(t, err)
	inst, err := Build(manifestSpec(t, "testdata/nlb_instance_mode.yaml"))
	require.NoError(t, err)
	assert.Equal(t, ip.Deployments, inst.Deployments)
	assert.Equal(t, ip.Pods, inst.Pods)
	assert.Equal(t, ip.Hosts(), inst.Hosts())
	require.Len(t, inst.LoadBalancers, 1)
	lb := inst.LoadBalancers[0]
	assert.Equal(t, TargetInstance, lb.TargetType)
	assert.True(t, lb.PreserveClientIP, "AWS's default for instance targets")
	lb.TargetType, lb.PreserveClientIP = TargetIP, false
	assert.Equal(t, ip.LoadBalancers[0], lb)
	svcs := inst.Services
	for i := range svcs {
		if svcs[i].Annotations[AnnotationTargetType] == "instance" {
			svcs[i].Annotations[AnnotationTargetType] = "ip"
		}
	}
	assert.Equal(t, ip.Services, svcs)
	for _, tg := range inst.Targets(inst.LoadBalancers[0]) {
		assert.Equal(t, AppNodePort, tg.Port)
	}
}

// A flag beats an annotation, which beats the controller's default, also
// with manifests; the same flags on the default world and on its manifest
// give the same world.
func TestManifestFlagPrecedence(t *testing.T) {
	on := true
	spec := manifestSpec(t, "testdata/nlb_ip_mode.yaml")
	spec.Mode, spec.ExternalTrafficPolicy, spec.CrossZone = TargetInstance, PolicyLocal, &on
	w, err := Build(spec)
	require.NoError(t, err)
	flags := DefaultSpec()
	flags.Mode, flags.ExternalTrafficPolicy, flags.CrossZone = TargetInstance, PolicyLocal, &on
	d, err := Build(flags)
	require.NoError(t, err)
	// The default world writes --mode into its Service's annotation; the
	// manifest's annotation stays as written, and the flag beats it.
	assert.Equal(t, "ip", w.Services[2].Annotations[AnnotationTargetType])
	w.Services[2].Annotations[AnnotationTargetType] = "instance"
	assert.Equal(t, d.Services, w.Services)
	assert.Equal(t, d.LoadBalancers, w.LoadBalancers)
	assert.Equal(t, TargetInstance, w.LoadBalancers[0].TargetType)
	assert.Equal(t, "HTTP", w.LoadBalancers[0].HealthCheck.Protocol)
	assert.NotZero(t, w.Services[len(w.Services)-1].HealthCheckNodePort)

	// No annotation and no flag: the controller's defaults.
	w = buildManifests(t, DefaultSpec(), Manifest{Name: "bare.yaml", Data: bareApp("default", "web", "LoadBalancer", "")})
	lb, ok := w.LoadBalancerFor("default/web")
	require.True(t, ok)
	assert.Equal(t, TargetInstance, lb.TargetType)
	assert.Equal(t, "internal", lb.Scheme)
	assert.False(t, lb.CrossZone)
}

// bareApp is a Deployment and a Service of one name, without annotations.
func bareApp(namespace, name, typ, extra string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:
  replicas: 2
  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
      containers:
      - name: app
        image: example/app:1
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
  namespace: ` + namespace + `
spec:
  type: ` + typ + `
  selector: {app: ` + name + `}
  ports:
  - port: 80
    targetPort: http
` + extra
}

// Several Deployments and Services in several namespaces: each
// LoadBalancer Service gets its own NLB with its own hosts and addresses.
func TestTwoNamespacesTwoNLBs(t *testing.T) {
	ns := Manifest{Name: "ns.yaml", Data: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"}
	w := buildManifests(t, DefaultSpec(), ns,
		Manifest{Name: "default.yaml", Data: bareApp("default", "web", "LoadBalancer", "")},
		Manifest{Name: "shop.yaml", Data: bareApp("shop", "web", "LoadBalancer", "")},
		Manifest{Name: "internal.yaml", Data: bareApp("shop", "db", "ClusterIP", "")})
	assert.Empty(t, w.Warnings)
	require.Len(t, w.LoadBalancers, 2)
	a, b := w.LoadBalancers[0], w.LoadBalancers[1]
	assert.Equal(t, "default/web", a.Service)
	assert.Equal(t, "shop/web", b.Service)
	assert.NotEqual(t, a.Name, b.Name)
	assert.True(t, strings.HasPrefix(a.Name, "k8s-default-web-"), a.Name)
	assert.True(t, strings.HasPrefix(b.Name, "k8s-shop-web-"), b.Name)
	assert.Equal(t, []string{"web-nlb-a", "web-nlb-b", "web-nlb-c"}, hostNames(a.Nodes))
	assert.Equal(t, []string{"web-shop-nlb-a", "web-shop-nlb-b", "web-shop-nlb-c"}, hostNames(b.Nodes))
	names, addrs := map[string]bool{}, map[string]bool{}
	for _, h := range w.Hosts() {
		if h.Kind == KindVPC {
			continue
		}
		assert.False(t, names[h.Name], "host name %s twice", h.Name)
		assert.False(t, addrs[h.IP.String()], "address %s twice", h.IP)
		names[h.Name], addrs[h.IP.String()] = true, true
	}
	ports := map[int]string{}
	ips := map[string]string{}
	for _, s := range w.Services {
		assert.Empty(t, ips[s.ClusterIP.String()], "%s and %s share a ClusterIP", s.Key(), ips[s.ClusterIP.String()])
		ips[s.ClusterIP.String()] = s.Key()
		for _, p := range s.Ports {
			if p.NodePort != 0 {
				assert.Empty(t, ports[p.NodePort])
				ports[p.NodePort] = s.Key()
			}
		}
	}
	db, ok := w.Service("shop", "db")
	require.True(t, ok)
	assert.Zero(t, db.Ports[0].NodePort, "ClusterIP Services get no NodePort")
	pods := 0
	for _, p := range w.Pods {
		if p.Namespace == "shop" {
			pods++
			assert.Regexp(t, `^(web|db)-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$`, p.Name)
		}
	}
	assert.Equal(t, 4, pods)

	again := buildManifests(t, DefaultSpec(), ns,
		Manifest{Name: "internal.yaml", Data: bareApp("shop", "db", "ClusterIP", "")},
		Manifest{Name: "shop.yaml", Data: bareApp("shop", "web", "LoadBalancer", "")},
		Manifest{Name: "default.yaml", Data: bareApp("default", "web", "LoadBalancer", "")})
	assert.Equal(t, w.Services, again.Services, "allocation follows names, not file order")
	assert.Equal(t, w.Pods, again.Pods)
}

func hostNames(nodes []NLBNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

// A named targetPort resolves to each pod's port of that name: endpoints,
// ip targets and kube-proxy all use 8080.
func TestNamedTargetPort(t *testing.T) {
	ann := `  annotations:
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
`
	data := strings.Replace(bareApp("default", "web", "LoadBalancer", ""), "  namespace: default\nspec:\n  type:", "  namespace: default\n"+ann+"spec:\n  type:", 1)
	w := buildManifests(t, DefaultSpec(), Manifest{Name: "web.yaml", Data: data})
	svc, ok := w.Service("default", "web")
	require.True(t, ok)
	assert.Equal(t, "http", svc.Ports[0].TargetPort)
	eps := w.Endpoints(svc, svc.Ports[0])
	require.Len(t, eps, 2)
	for _, e := range eps {
		assert.Equal(t, 8080, e.Port)
	}
	lb, _ := w.LoadBalancerFor("default/web")
	assert.Equal(t, TargetIP, lb.TargetType)
	for _, tg := range w.Targets(lb) {
		assert.Equal(t, 8080, tg.Port)
		assert.Equal(t, 80, tg.ListenerPort)
	}
}

// What a Deployment keeps of its manifest.
func TestDeploymentFields(t *testing.T) {
	data := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      terminationGracePeriodSeconds: 45
      containers:
      - name: app
        image: example/app:1
        command: ["/app"]
        args: ["--port", "8080"]
        resources: {requests: {cpu: 100m}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 5
        lifecycle:
          preStop:
            exec: {command: ["sleep", "15"]}
      - name: sidecar
        image: example/sidecar:2
        ports: [{name: metrics, containerPort: 9100}]
`
	w := buildManifests(t, DefaultSpec(), Manifest{Name: "web.yaml", Data: data})
	var d Deployment
	for _, x := range w.Deployments {
		if x.Name == "web" {
			d = x
		}
	}
	assert.Equal(t, 1, d.Replicas, "the API server's default")
	assert.Equal(t, map[string]string{"app": "web", "tier": "front"}, d.Labels)
	assert.Equal(t, map[string]string{"app": "web"}, d.Selector)
	assert.Equal(t, []Container{{"app", "example/app:1"}, {"sidecar", "example/sidecar:2"}}, d.Containers)
	assert.Equal(t, []ContainerPort{{Name: "http", Port: 8080, Protocol: "TCP"}, {Name: "metrics", Port: 9100, Protocol: "TCP"}}, d.Ports)
	assert.Equal(t, &Probe{Handler: "httpGet", Port: "http", Path: "/ready", Period: 5e9, Timeout: 1e9, SuccessThreshold: 1, FailureThreshold: 3}, d.ReadinessProbe)
	assert.Equal(t, &Hook{Handler: "exec", Command: []string{"sleep", "15"}}, d.PreStop)
	assert.Equal(t, 45e9, float64(d.TerminationGracePeriod))
	for _, p := range w.Pods {
		if p.Owner == "web" {
			assert.Equal(t, 2, p.Containers)
		}
	}
}

// Valid but questionable input is accepted with one warning each.
func TestManifestWarnings(t *testing.T) {
	data := `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app}
---
apiVersion: v1
kind: Service
metadata: {name: lonely}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
`
	w := buildManifests(t, DefaultSpec(), Manifest{Name: "extra.yaml", Data: data})
	assert.Equal(t, []string{
		"extra.yaml:1: ConfigMap settings has no effect on networking in nlbsim; ignored",
		"extra.yaml:6: ServiceAccount app has no effect on networking in nlbsim; ignored",
		"extra.yaml:14: service default/lonely: selector app=nobody matches no running pod, so it has no endpoints",
	}, w.Warnings)
	svc, ok := w.Service("default", "lonely")
	require.True(t, ok)
	assert.Empty(t, w.Endpoints(svc, svc.Ports[0]))
}

// Bad input gets the API server's (or the controller's) answer, at the
// file and line of the field, and nothing is built.
func TestManifestErrors(t *testing.T) {
	svc := func(spec string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n" + spec
	}
	dep := func(podSpec string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
` + podSpec
	}
	cases := map[string]struct{ data, want string }{
		"invalid YAML": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n   bad: indent\n",
			"nlb.yaml:5: error converting YAML to JSON: mapping values are not allowed in this context"},
		"duplicate key": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  name: other\n",
			`nlb.yaml:5: error converting YAML to JSON: mapping key "name" already defined at line 4`},
		"unknown field": {svc("  type: NodePort\n  ports:\n  - port: 80\n    nodeport: 30080\n"),
			`nlb.yaml:9: strict decoding error: unknown field "spec.ports[0].nodeport"`},
		"wrong type": {svc("  ports:\n  - port: http\n"),
			`nlb.yaml:7: spec.ports[0].port: Invalid value: "http": must be of type int32`},
		"no kind": {"apiVersion: v1\nmetadata: {name: x}\n", "nlb.yaml:1: error validating data: kind not set"},
		"unknown kind": {"apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n",
			`nlb.yaml:1: resource mapping not found for name: "x": no matches for kind "Widget" in version "example.com/v1"`},
		"old Deployment version": {"apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: x}\n",
			`no matches for kind "Deployment" in version "extensions/v1beta1"`},
		"unmodelled kind": {"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\n",
			"nlb.yaml:2: kind StatefulSet is not modelled by nlbsim"},
		"selector does not match": {strings.Replace(dep("      containers: [{name: a, image: i}]\n"), "labels: {app: web}", "labels: {app: wbe}", 1),
			"nlb.yaml:10: spec.template.metadata.labels: Invalid value: {\"app\":\"wbe\"}: `selector` does not match template `labels`"},
		"containerPort out of range": {dep("      containers:\n      - name: a\n        image: i\n        ports: [{containerPort: 70000}]\n"),
			"nlb.yaml:15: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"},
		"negative replicas": {strings.Replace(dep("      containers: [{name: a, image: i}]\n"), "spec:\n  selector", "spec:\n  replicas: -1\n  selector", 1),
			"nlb.yaml:6: spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		"host network": {dep("      hostNetwork: true\n      containers: [{name: a, image: i}]\n"),
			"nlb.yaml:12: spec.template.spec.hostNetwork: Forbidden: host-network pods are not modelled by nlbsim"},
		"no image": {dep("      containers: [{name: a}]\n"), "nlb.yaml:12: spec.template.spec.containers[0].image: Required value"},
		"port out of range": {svc("  ports:\n  - port: 0\n"),
			"nlb.yaml:7: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"},
		"nodePort out of range": {svc("  type: LoadBalancer\n  ports:\n  - port: 80\n    nodePort: 40000\n"),
			"nlb.yaml:9: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"},
		"nodePort on ClusterIP": {svc("  ports:\n  - port: 80\n    nodePort: 30080\n"),
			"nlb.yaml:8: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"},
		"same port twice": {svc("  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 80}\n"),
			`nlb.yaml:8: spec.ports[1]: Duplicate value: "80/TCP"`},
		"nodePort twice in a Service": {svc("  type: NodePort\n  ports:\n  - {name: a, port: 80, nodePort: 30080}\n  - {name: b, port: 81, nodePort: 30080}\n"),
			"nlb.yaml:9: spec.ports[1].nodePort: Duplicate value: 30080"},
		"nodePort of another Service": {svc("  type: NodePort\n  ports:\n  - {port: 80, nodePort: 30080}\n") +
			"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: other\nspec:\n  type: NodePort\n  ports:\n  - {port: 80, nodePort: 30080}\n",
			"nlb.yaml:17: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"},
		"unnamed ports": {svc("  ports:\n  - port: 80\n  - port: 81\n"), "nlb.yaml:8: spec.ports[1].name: Required value"},
		"unknown annotation value": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip\n    service.beta.kubernetes.io/aws-load-balancer-scheme: public\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n",
			`nlb.yaml:7: service default/web annotation service.beta.kubernetes.io/aws-load-balancer-scheme: unknown scheme "public" (valid: internal, internet-facing)`},
		"health-check annotation": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval: \"500\"\nspec:\n  type: LoadBalancer\n  ports: [{port: 80}]\n",
			`nlb.yaml:6: service default/web annotation service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval: "500" must be a whole number of seconds in 5–300`},
		"UDP load-balanced port": {svc("  type: LoadBalancer\n  ports:\n  - port: 53\n    protocol: UDP\n"),
			"nlb.yaml:9: spec.ports[0].protocol: Forbidden: UDP on a load-balanced port is not modelled by nlbsim"},
		"IPv6": {svc("  ipFamilies: [IPv4, IPv6]\n  ports: [{port: 80}]\n"),
			"nlb.yaml:6: spec.ipFamilies[1]: Forbidden: IPv6 is not modelled by nlbsim"},
		"dual stack": {svc("  ipFamilyPolicy: RequireDualStack\n  ports: [{port: 80}]\n"),
			`nlb.yaml:6: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`},
		"headless": {svc("  clusterIP: None\n  ports: [{port: 80}]\n"), "nlb.yaml:6: spec.clusterIP: Forbidden: headless Services"},
		"clusterIP out of range": {svc("  clusterIP: 10.0.0.5\n  ports: [{port: 80}]\n"),
			`nlb.yaml:6: spec.clusterIPs[0]: Invalid value: "10.0.0.5": failed to allocate IP 10.0.0.5: provided IP is not in the valid range. The range of valid IPs is 10.100.0.0/16`},
		"clusterIP taken": {svc("  clusterIP: 10.100.0.10\n  ports: [{port: 80}]\n"), "nlb.yaml:6: spec.clusterIPs[0]: Invalid value: \"10.100.0.10\": failed to allocate IP 10.100.0.10: provided IP is already allocated"},
		"external traffic policy on ClusterIP": {svc("  externalTrafficPolicy: Local\n  ports: [{port: 80}]\n"),
			`nlb.yaml:6: spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services`},
		"affinity timeout": {svc("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  ports: [{port: 80}]\n"),
			"nlb.yaml:7: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400"},
		"missing namespace": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  ports: [{port: 80}]\n",
			`nlb.yaml:5: namespaces "shop" not found`},
		"add-on": {"apiVersion: v1\nkind: Service\nmetadata:\n  name: kube-dns\n  namespace: kube-system\nspec:\n  ports: [{port: 53}]\n",
			"nlb.yaml:4: service kube-system/kube-dns is one of the cluster's add-ons"},
		"empty": {"# nothing\n", "nlb.yaml: no objects passed to apply"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			spec := DefaultSpec()
			spec.Manifests = []Manifest{{Name: "nlb.yaml", Data: c.data}}
			w, err := Build(spec)
			require.Error(t, err)
			assert.Nil(t, w)
			var invalid *InvalidError
			require.ErrorAs(t, err, &invalid)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// Every problem is reported at once, each at its line.
func TestManifestErrorsAreAllReported(t *testing.T) {
	data := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  ports:\n  - port: 0\n    nodePort: 40000\n"
	spec := DefaultSpec()
	spec.Manifests = []Manifest{{Name: "nlb.yaml", Data: data}}
	_, err := Build(spec)
	require.Error(t, err)
	assert.Equal(t, "nlb.yaml:8: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive\n"+
		"nlb.yaml:9: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767", err.Error())
}

func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("b"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), []byte("a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("n"), 0o644))
	ms, err := ReadManifests([]string{dir, "testdata/nlb_ip_mode.yaml"})
	require.NoError(t, err)
	require.Len(t, ms, 3)
	assert.Equal(t, filepath.Join(dir, "a.json"), ms[0].Name)
	assert.Equal(t, filepath.Join(dir, "b.yaml"), ms[1].Name)
	assert.Equal(t, "testdata/nlb_ip_mode.yaml", ms[2].Name)

	_, err = ReadManifests([]string{"testdata/no-such.yaml"})
	var invalid *InvalidError
	require.ErrorAs(t, err, &invalid)
	assert.Contains(t, err.Error(), `the path "testdata/no-such.yaml" does not exist`)
}

// A List holds objects as a file of documents would; JSON is YAML.
func TestListsAndJSON(t *testing.T) {
	data := `{"apiVersion": "v1", "kind": "List", "items": [
  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "shop"},
   "spec": {"ports": [{"port": 5432}], "selector": {"app": "db"}}}]}`
	w := buildManifests(t, DefaultSpec(), Manifest{Name: "list.json", Data: data})
	_, ok := w.Service("shop", "db")
	assert.True(t, ok)
	assert.Equal(t, []string{"list.json:4: service shop/db: selector app=db matches no running pod, so it has no endpoints"}, w.Warnings)
}

// apply replaces the objects it is given and keeps the others; a world
// without manifests holds the walkthrough's objects.
func TestApplyManifests(t *testing.T) {
	read := func(p string) []Manifest {
		ms, err := ReadManifests([]string{p})
		require.NoError(t, err)
		return ms
	}
	running := DefaultSpec()
	running.Mode, running.ExternalTrafficPolicy = "", ""
	spec, err := ApplyManifests(running, read("testdata/nlb_instance_mode.yaml"))
	require.NoError(t, err)
	assert.Equal(t, read("testdata/nlb_instance_mode.yaml"), spec.Manifests, "every walkthrough object was replaced")

	extra := Manifest{Name: "web.yaml", Data: bareApp("default", "web", "NodePort", "")}
	spec, err = ApplyManifests(running, []Manifest{extra})
	require.NoError(t, err)
	require.Len(t, spec.Manifests, 2)
	w, err := Build(spec)
	require.NoError(t, err)
	_, ok := w.Service("default", "nginx-nlb-service")
	assert.True(t, ok, "the walkthrough's objects stay")
	_, ok = w.Service("default", "web")
	assert.True(t, ok)

	_, err = ApplyManifests(running, []Manifest{{Name: "bad.yaml", Data: "kind: [\n"}})
	var invalid *InvalidError
	assert.ErrorAs(t, err, &invalid)
}

// In place: Services' settings may change, Deployments and the set of
// Services may not.
func TestCheckInPlace(t *testing.T) {
	ip, err := Build(manifestSpec(t, "testdata/nlb_ip_mode.yaml"))
	require.NoError(t, err)
	inst, err := Build(manifestSpec(t, "testdata/nlb_instance_mode.yaml"))
	require.NoError(t, err)
	assert.NoError(t, CheckInPlace(ip, inst))
	assert.NoError(t, CheckInPlace(Default(), inst))

	more := manifestSpec(t, "testdata/nlb_ip_mode.yaml")
	more.Manifests[0].Data = strings.Replace(more.Manifests[0].Data, "replicas: 3", "replicas: 5", 1)
	bigger, err := Build(more)
	require.NoError(t, err)
	err = CheckInPlace(ip, bigger)
	var invalid *InvalidError
	require.ErrorAs(t, err, &invalid)
	assert.Contains(t, err.Error(), "deployment default/nginx-deployment would go from 3 to 5 replicas")

	spec, err := ApplyManifests(ip.Spec, []Manifest{{Name: "web.yaml", Data: bareApp("default", "web", "LoadBalancer", "")}})
	require.NoError(t, err)
	web, err := Build(spec)
	require.NoError(t, err)
	err = CheckInPlace(ip, web)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deployment default/web is new; service default/web is new")
}

// kubectl apply's lines: created, configured, unchanged.
func TestApplied(t *testing.T) {
	ip, err := Build(manifestSpec(t, "testdata/nlb_ip_mode.yaml"))
	require.NoError(t, err)
	instSpec := manifestSpec(t, "testdata/nlb_instance_mode.yaml")
	inst, err := Build(instSpec)
	require.NoError(t, err)
	assert.Equal(t, []string{"deployment.apps/nginx-deployment unchanged", "service/nginx-nlb-service configured"},
		Applied(ip, inst, instSpec.Manifests))
	assert.Equal(t, []string{"deployment.apps/nginx-deployment created", "service/nginx-nlb-service created"},
		Applied(nil, inst, instSpec.Manifests))
}

// Only the Load Balancer Controller's class (or none) makes an NLB.
func TestLoadBalancerClass(t *testing.T) {
	other := bareApp("default", "web", "LoadBalancer", "  loadBalancerClass: example.com/lb\n")
	w := buildManifests(t, DefaultSpec(), Manifest{Name: "web.yaml", Data: other})
	assert.Empty(t, w.LoadBalancers)
	assert.Equal(t, []string{"web.yaml:31: service default/web: loadBalancerClass example.com/lb is not the Load Balancer Controller's (service.k8s.aws/nlb): no NLB, its EXTERNAL-IP stays <pending>"}, w.Warnings)
	lbc := bareApp("default", "web", "LoadBalancer", "  loadBalancerClass: service.k8s.aws/nlb\n")
	w = buildManifests(t, DefaultSpec(), Manifest{Name: "web.yaml", Data: lbc})
	assert.Len(t, w.LoadBalancers, 1)
}
