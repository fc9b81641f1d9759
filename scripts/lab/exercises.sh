#!/usr/bin/env bash
# The exercises at the end of docs/LAB.md, checked: cross-zone load
# balancing, a failing pod, the hairpin with client IP preservation, and
# externalTrafficPolicy Local. One cluster with two replicas, so that AZ c has
# no nginx pod and the settings visibly change where traffic may go.
LAB=exercises
LAB_DEFAULT_NAME=lab-exercises
LAB_USAGE="The LAB.md exercises: cross-zone, a failing pod, hairpin, externalTrafficPolicy Local."
# shellcheck source=scripts/lab/lib.bash
. "$(dirname "$0")/lib.bash"
lab_init "$@"

pod1=192.168.1.248 # on node 1, AZ a
pod2=192.168.2.206 # on node 2, AZ b
nlb_a=192.168.1.51
nlb_b=192.168.2.149
nlb_c=192.168.3.171

# nlb_addresses runs N requests and prints the NLB addresses they used, or
# what went wrong.
nlb_addresses() {
	local out rc=0
	out=$(nl traffic -n "$1" --fail-on-errors -o json) || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "traffic failed (exit $rc): $(jq -c .errorsByKind <<<"$out" 2>/dev/null)"
		return
	fi
	jq -r '[.byNLBAddress | keys[]] | sort | join(" ")' <<<"$out"
}

step "0. Two replicas: nginx pods in AZ a and AZ b only"
up --mode ip --replicas 2 || { check "the cluster comes up" false; lab_finish; }
show get pods -o wide
check "the pods are $pod1 (node 1) and $pod2 (node 2)" \
	equal "$(nl get pods -o json | jq -r '[.items[] | select(.metadata.labels.app == "nginx") | .status.podIP] | sort | join(" ")')" "$pod1 $pod2"

step "1. Cross-zone load balancing"
say "Cross-zone is off by default: an NLB node sends only to targets in its own AZ. AZ c has none," \
	"so the VPC resolver leaves nlb-c ($nlb_c) out of its answers."
check "with cross-zone off, clients only use nlb-a and nlb-b" equal "$(nlb_addresses 30)" "$nlb_a $nlb_b"
up --cross-zone
say "" "With --cross-zone every NLB node sends to every healthy target, so nlb-c serves again and" \
	"requests cross AZs: the pod sees an NLB address from another AZ as its peer."
check "with cross-zone on, clients use all three NLB nodes" equal "$(nlb_addresses 30)" "$nlb_a $nlb_b $nlb_c"
curls 15
cross=$(awk '{split($1, p, "."); split($2, q, "."); if ($1 != "failed" && p[3] != q[3]) n++} END {print n + 0}' <<<"$ANSWERS")
sed 's/^/    answered by /; s/ \([0-9.]*\)$/, which saw the peer \1/' <<<"$ANSWERS"
check "some of 15 requests crossed AZs ($cross)" at_least "$cross" 1
up --cross-zone=false

step "2. A failing pod"
say "Make the pod on node 2 drop its traffic with an iptables rule in its own namespace" \
	"(newer nlbsim versions have \`nlbsim fail pod\` for this). Every NLB node's TCP health check" \
	"times out; after 3 failures in a row (10 s apart, / time scale) the target is unhealthy."
printf '\n%s$ sudo nlbsim exec --name %s pod-2 -- iptables -I INPUT -p tcp --dport 7777 -j DROP%s\n' "$C" "$NAME" "$Z"
nl exec pod-2 -- iptables -I INPUT -p tcp --dport 7777 -j DROP
limit=$(seconds 60)
check "within $limit s, $pod2 turns unhealthy" wait_for "$limit" target_is "$pod2" unhealthy
show get targets
check "its reason is Target.FailedHealthChecks (the only unhealthy reason an NLB gives)" contains "$OUT" "$pod2 +7777 +ap-northeast-2b +unhealthy +Target\.FailedHealthChecks"
say "" "AZ b has no healthy target left, so the resolver drops nlb-b and every request goes to node 1's pod:"
check "all requests succeed, through nlb-a only" equal "$(nlb_addresses 30)" "$nlb_a"
printf '\n%s$ sudo nlbsim exec --name %s pod-2 -- iptables -D INPUT -p tcp --dport 7777 -j DROP%s\n' "$C" "$NAME" "$Z"
nl exec pod-2 -- iptables -D INPUT -p tcp --dport 7777 -j DROP
check "within $limit s of removing the rule, $pod2 is healthy again" wait_for "$limit" target_is "$pod2" healthy

step "3. The hairpin with client IP preservation"
say "With --preserve-client-ip=true the NLB keeps the client's address. A pod that connects to its" \
	"own NLB and is chosen as the target gets its own packets back from the NLB with its own address" \
	"as the source: the pod's stack never completes the handshake and the connection times out" \
	"(AWS documents this). Pod 2 through nlb-b, whose only target is pod 2 itself:"
up --preserve-client-ip=true
printf '\n%s$ sudo nlbsim exec --name %s pod-2 -- curl -s --max-time 2 %s:7777%s\n' "$C" "$NAME" "$nlb_b" "$Z"
rc=0
nl exec pod-2 -- curl -s --max-time 2 "$nlb_b:7777" >/dev/null || rc=$?
say "    curl's exit status: $rc (28 means it timed out)"
check "pod 2 → nlb-b → pod 2 times out" equal "$rc" 28
answer=$(nl exec pod-2 -- curl -s --max-time 2 -H 'Accept: application/json' "$nlb_a:7777" | jq -r '"\(.podIP) \(.peer | sub(":[0-9]+$"; ""))"' || true)
check "pod 2 → nlb-a → pod 1 works, and pod 1 sees pod 2's own address ($answer)" equal "$answer" "$pod1 $pod2"
up --preserve-client-ip=false
answer=$(nl exec pod-2 -- curl -s --max-time 2 -H 'Accept: application/json' "$nlb_b:7777" | jq -r '"\(.podIP) \(.peer | sub(":[0-9]+$"; ""))"' || true)
check "without preservation the hairpin works: pod 2 answers itself, seeing nlb-b's address ($answer)" equal "$answer" "$pod2 $nlb_b"

step "4. externalTrafficPolicy Local (instance mode)"
say "With Local, a node sends NodePort traffic only to its own pods and keeps the client's address;" \
	"the NLB health-checks each node's healthCheckNodePort over HTTP /healthz (kube-proxy answers 503" \
	"on a node without a local pod). Client IP preservation is set again: exercise 3 turned it off," \
	"and a flag keeps its value until it is given again."
up --mode instance --external-traffic-policy Local --preserve-client-ip=true
show describe svc nginx-nlb-service
hc_port=$(sed -n 's/^HealthCheck NodePort: *\([0-9]*\)$/\1/p' <<<"$OUT")
check "the Service has a healthCheckNodePort (${hc_port:-none})" contains "$hc_port" "^[0-9]+$"
check "the NLB's health check is HTTP /healthz on it" \
	contains "$(grep -A3 '^  Health Check:' <<<"$OUT" | tr -s ' \n' ' ')" "Protocol: HTTP Port: ${hc_port:-none} Path: /healthz"
show get targets -o wide
check "node 3 (no nginx pod) is unhealthy: kube-proxy's health server answers 503" contains "$OUT" "32392 +ap-northeast-2c +unhealthy +Target\.FailedHealthChecks +node-3"
report=$(nl traffic -n 60 --fail-on-errors -o json)
check "every request succeeds, through nlb-a and nlb-b only" equal "$(jq -r '[.byNLBAddress | keys[]] | sort | join(" ")' <<<"$report")" "$nlb_a $nlb_b"
check "the pods see the bastion's own address" equal "$(jq -r '[.bySourceSeen | keys[]] | join(" ")' <<<"$report")" 192.168.1.100
show trace -n 2
check "no node masquerades (DNAT only on the node)" \
	equal "$(nl trace -n 4 -o json | jq -c '[.requests[].hops[] | select(.host | startswith("node-")) | .nat.kind // empty] | unique')" '["DNAT"]'

lab_finish
