#!/usr/bin/env bash
# The walkthrough's instance-mode experiment (scenes 5 and 6), with its
# claims checked: the target group lists the instances on NodePort 32392, the
# NLB sends to a node, the node's kube-proxy rules DNAT to any pod (often on
# another node) and masquerade, KUBE-SVC's counters rise with probabilities
# 0.33333333349 and 0.50000000000, the spread fits, and the pods see node IPs.
LAB="instance-mode"
LAB_DEFAULT_NAME=lab-instance
LAB_USAGE="The walkthrough's instance-mode experiment: NLB → node:NodePort → kube-proxy → pod, checked."
# shellcheck source=scripts/lab/lib.bash
. "$(dirname "$0")/lib.bash"
lab_init "$@"

node_ips=(192.168.1.118 192.168.2.146 192.168.3.137)
pod_ips=(192.168.1.248 192.168.2.206 192.168.3.111)
node2=192.168.2.146
svc_chain=KUBE-SVC-VDXCGHLC7LJVQSZ7

# svc_rules prints node 2's KUBE-SVC chain for nginx-nlb-service as
# `iptables -t nat -L -n -v` shows it; svc_count sums its jumps' packets.
svc_rules() { nl iptables node-2 -t nat | sed -n "/^Chain $svc_chain /,/^\$/p"; }
svc_count() { svc_rules | awk '/KUBE-SEP-/ {n += $1} END {print n + 0}'; }

# nginx_chains keeps, of `iptables -t nat -L -n -v` output, the path of
# nginx-nlb-service: its KUBE-SERVICES and KUBE-NODEPORTS rules, then its
# KUBE-EXT, KUBE-SVC and KUBE-SEP chains.
nginx_chains() {
	awk '
	function flush() {
		if (name == "KUBE-SERVICES" || name == "KUBE-NODEPORTS") {
			printf "%s", head
			for (i = 1; i <= n; i++) if (rule[i] ~ /nginx-nlb-service|KUBE-NODEPORTS/) print rule[i]
			print ""
		} else if (name ~ /^KUBE-(EXT|SVC|SEP)-/ && text ~ /default\/nginx-nlb-service/) {
			printf "%s", head
			for (i = 1; i <= n; i++) print rule[i]
			print ""
		}
		name = ""; head = ""; text = ""; n = 0
	}
	/^Chain / { flush(); name = $2; head = $0 "\n"; next }
	/^ *pkts bytes/ { head = head $0 "\n"; next }
	/^$/ { next }
	{ rule[++n] = $0; text = text $0 "\n" }
	END { flush() }'
}

step "1. Up in ip mode, then switch to instance mode in place"
say "The walkthrough deleted the Service and applied it again with nlb-target-type: instance;" \
	"nlbsim changes the running cluster instead: the pods, addresses and rules stay, the NLB's" \
	"targets re-register."
up --mode ip || { check "the cluster comes up" false; lab_finish; }
up --mode instance || { check "the cluster switches to instance mode" false; lab_finish; }
show describe svc nginx-nlb-service
check "the NLB now has instance targets" contains "$OUT" "Target Type: +instance"
check "client IP preservation is on (the default for instance targets)" contains "$OUT" "Client IP Preservation: +on"

step "2. The target group lists the instances on NodePort 32392"
show get svc
check "the Service is 10.100.30.185, 7777:32392/TCP" contains "$OUT" "nginx-nlb-service +LoadBalancer +10\.100\.30\.185 .* 7777:32392/TCP"
show get targets -o wide
targets=$(nl get targets -o json)
instances=$(nl get nodes -o json | jq -r '[.items[].spec.providerID | sub(".*/"; "")] | sort | join(" ")')
say "" "Look at: TARGET is an EC2 instance ID and PORT the NodePort, one per node."
check "the targets are the nodes' instances ($instances)" \
	equal "$(jq -r '[.targetHealthDescriptions[].target.id] | sort | join(" ")' <<<"$targets")" "$instances"
check "every target is registered on NodePort 32392" \
	equal "$(jq -r '[.targetHealthDescriptions[].target.port] | unique | join(" ")' <<<"$targets")" 32392
check "every target is healthy" \
	equal "$(jq -r '[.targetHealthDescriptions[].targetHealth.state] | unique | join(" ")' <<<"$targets")" healthy

step "3. The iptables evidence on node 2 (scene 6)"
printf '\n%s$ sudo nlbsim iptables --name %s node-2 -t nat%s   (the chains of nginx-nlb-service)\n' "$C" "$NAME" "$Z"
rules=$(nl iptables node-2 -t nat)
nginx_chains <<<"$rules" | sed 's/^/    /'
say "Look at: KUBE-NODEPORTS sends dpt:32392 to KUBE-EXT-…, which marks for masquerade and jumps to" \
	"$svc_chain; there the first rule takes 1/3 of the connections, the second 1/2 of the rest," \
	"the last all that remains: 1/3 each. Each KUBE-SEP-… DNATs to one pod."
check "KUBE-NODEPORTS catches tcp dpt:32392" contains "$rules" "KUBE-EXT-VDXCGHLC7LJVQSZ7 .* tcp dpt:32392"
check "KUBE-SERVICES sends 10.100.30.185:7777 to $svc_chain" contains "$rules" "$svc_chain .* 10\.100\.30\.185 .* tcp dpt:7777"
svc=$(svc_rules | grep KUBE-SEP-)
check "the first jump has statistic probability 0.33333333349" contains "$(sed -n 1p <<<"$svc")" "-> 192\.168\.1\.248:7777 \*/ statistic mode random probability 0\.33333333349$"
check "the second 0.50000000000" contains "$(sed -n 2p <<<"$svc")" "-> 192\.168\.2\.206:7777 \*/ statistic mode random probability 0\.50000000000$"
check "the third takes the rest, unconditionally" contains "$(sed -n 3p <<<"$svc")" "-> 192\.168\.3\.111:7777 \*/$"
for ip in "${pod_ips[@]}"; do
	check "a KUBE-SEP chain DNATs to $ip:7777" contains "$rules" "DNAT .* tcp to:$ip:7777"
done

step "4. Health checks count too"
wait_s=$(seconds 20)
say "In instance mode every NLB node health-checks every node's NodePort (TCP, every 10 s / time" \
	"scale), through the same kube-proxy rules. Nothing else runs now; in ${wait_s} s the counters rise:"
before=$(svc_count)
sleep "$wait_s"
after=$(svc_count)
say "    $svc_chain on node 2: $before packets, ${wait_s} s later $after"
check "KUBE-SVC counts the NLB's health checks (at least one round from the three NLB nodes)" at_least $((after - before)) 3

step "5. Capture on node 2 while the bastion curls the NLB ten times"
capture_start node-2 "$CAPTURE" 'port 7777 or port 32392'
curls 10
capture_stop
answers=$ANSWERS
sed 's/^/    answered by /; s/ \([0-9.]*\)$/, which saw the peer \1/' <<<"$answers"
via_node2=$(grep -c " $node2\$" <<<"$answers" || true)
check "all ten curls were answered" equal "$(grep -vc failed <<<"$answers")" 10
node_re=$(IFS='|' && echo "${node_ips[*]}")
check "the pods saw a node's address as their peer (masquerade), never the bastion or the NLB" \
	equal "$(cut -d' ' -f2 <<<"$answers" | grep -cvE "^($node_re)$" || true)" 0

printf '\n%s$ sudo nlbsim exec --name %s node-2 -- tcpdump -r %s -nn%s\n' "$C" "$NAME" "$CAPTURE" "$Z"
packets=$(nl exec node-2 -- tcpdump -r "$CAPTURE" -nn 2>/dev/null)
grep -E "Flags \[P\.\]" <<<"$packets" | sed -n 1,12p | cut -c1-130 | sed 's/^/    /'
say "    … ($(wc -l <<<"$packets") packets; the file is $CAPTURE)" "" \
	"Look at: 192.168.1.100.PORT > $node2.32392 — the NLB kept the bastion's address and sent to the" \
	"node's NodePort; then $node2.PORT > POD.7777 — the node DNATed to a pod and masqueraded," \
	"to its own pod or out of eth0 to another node's. Packets to 192.168.2.206.7777 from" \
	"192.168.1.118 or 192.168.3.137 are the other nodes' picks of node 2's pod (the walkthrough's" \
	"five cases); those from 192.168.x.51/149/171 to port 32392 are health checks."
http_in=$(distinct "$packets" "IP 192\.168\.1\.100\.[0-9]+ > $node2\.32392: Flags \[P\.\]")
check "the NLB sends to node 2's NodePort with the client's own address" contains "$packets" "IP 192\.168\.1\.100\.[0-9]+ > $node2\.32392: "
check "each curl that went through node 2 is one request to 32392 in the capture ($via_node2)" equal "$http_in" "$via_node2"
check "node 2 forwards them to pods with its own address (DNAT + masquerade)" \
	contains "$packets" "IP $node2\.[0-9]+ > 192\.168\.[123]\.(248|206|111)\.7777: Flags \[P\.\]"
others=$(distinct "$packets" "IP 192\.168\.(1\.118|3\.137)\.[0-9]+ > 192\.168\.2\.206\.7777: Flags \[P\.\]")
say "    (requests from other nodes to node 2's pod in this capture: $others)"

step "6. Traffic: the spread over pods against the rules, and KUBE-SVC's counters"
show traffic -n 150 --alpha 1e-4 || true
say "" "Checked on a second run of 150, as JSON, with node 2's KUBE-SVC counters before and after:"
before=$(svc_count)
report=$(nl traffic -n 150 --alpha 1e-4 --fail-on-errors -o json) && rc=0 || rc=$?
after=$(svc_count)
node2_got=$(jq -r '.byNode["ip-192-168-2-146.ap-northeast-2.compute.internal"] // 0' <<<"$report")
check "150 requests, no error, the distribution fits the installed rules (--alpha 1e-4)" equal "$rc" 0
check "all three nodes received requests (each NLB node sends to its AZ's node)" equal "$(jq '.byNode | length' <<<"$report")" 3
check "the pods saw exactly the three node IPs" \
	equal "$(jq -r '[.bySourceSeen | keys[]] | sort | join(" ")' <<<"$report")" "${node_ips[*]}"
check "KUBE-SVC on node 2 rose by at least the $node2_got requests node 2 got (+$((after - before)), health checks included)" \
	at_least $((after - before)) "$node2_got"
svc_rules | sed 's/^/    /'

step "7. Trace: the node hop"
show trace -n 3
trace=$(nl trace -n 6 -o json)
say "" "Look at: nlb-x only DNATs to node:32392 (the client's address stays); node-N DNATs to the pod" \
	"(KUBE-SEP-…) and SNATs to itself (KUBE-POSTROUTING's masquerade); the pod sees node-N's address."
check "every traced request reached a pod" equal "$(jq '[.requests[] | select(.pod == null or .pod == "")] | length' <<<"$trace")" 0
check "the NLB node only DNATs" \
	equal "$(jq -c '[.requests[].hops[] | select(.host | startswith("nlb-")) | .nat.kind] | unique' <<<"$trace")" '["DNAT"]'
check "one node per request DNATs and masquerades, by KUBE-SEP-… and KUBE-POSTROUTING" \
	equal "$(jq -c '[.requests[] | [.hops[] | select((.host | startswith("node-")) and .nat != null) | [.nat.kind, (.nat.by | test("^KUBE-SEP-[A-Z0-9]+, KUBE-POSTROUTING$"))]]] | unique' <<<"$trace")" '[[["DNAT+SNAT",true]]]'
check "the pod sees the translating node's address" \
	equal "$(jq '[.requests[] | ([.hops[] | select(.nat != null and (.host | startswith("node-")))][0].src | split(":")[0]) == (.hops[-1].src | split(":")[0])] | all' <<<"$trace")" true

step "8. The picture (nlbsim graph, edges only; paste the whole output into a mermaid block)"
graph=$(nl graph)
grep -E -- '-->|==>|-\.->' <<<"$graph" | sed 's/^ */    /'
check "each NLB node points at its AZ's node on 32392" equal "$(grep -cE '^ *nlb_[abc] ==>\|":32392 healthy"\| node_[123]$' <<<"$graph")" 3
check "each node points at all three pods (kube-proxy)" equal "$(grep -cE '^ *node_[123] -\.->\|"kube-proxy 1/3"\|' <<<"$graph")" 9

lab_finish
