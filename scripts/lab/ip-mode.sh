#!/usr/bin/env bash
# The walkthrough's ip-mode experiment (scene 4), with its claims checked:
# the target group lists pod IPs, and a capture on node 2 while the bastion
# curls the NLB ten times shows the NLB's private IP in AZ b talking straight
# to the pod, with no node translating anything.
LAB="ip-mode"
LAB_DEFAULT_NAME=lab-ip
LAB_USAGE="The walkthrough's ip-mode experiment: NLB → pod IP, checked claim by claim."
# shellcheck source=scripts/lab/lib.bash
. "$(dirname "$0")/lib.bash"
lab_init "$@"

nlb_ips=(192.168.1.51 192.168.2.149 192.168.3.171)
pod2=192.168.2.206 # the pod on node 2 (the walkthrough's ip-mode scene had 192.168.2.199)
nlb_b=192.168.2.149

step "1. Up in ip mode (the Service's annotation nlb-target-type: ip)"
up --mode ip || { check "the cluster comes up" false; lab_finish; }
show describe svc nginx-nlb-service
say "" "Look at: Target Type ip, Client IP Preservation off, and the NLB's three nodes."
for ip in "${nlb_ips[@]}"; do
	check "the NLB has a node at $ip" contains "$OUT" "ap-northeast-2[abc] +$ip +nlb-[abc]"
done

step "2. The target group lists pod IPs"
show get pods -o wide
pod_ips=$(nl get pods -o json | jq -r '[.items[] | select(.metadata.labels.app == "nginx") | .status.podIP] | sort | join(" ")')
show get targets -o wide
targets=$(nl get targets -o json)
target_ids=$(jq -r '[.targetHealthDescriptions[].target.id] | sort | join(" ")' <<<"$targets")
say "" "Look at: TARGET is a pod IP and PORT the container's 7777, not a node."
check "the targets are the nginx pods' IPs ($pod_ips)" equal "$target_ids" "$pod_ips"
check "every target is registered on port 7777" equal "$(jq -r '[.targetHealthDescriptions[].target.port] | unique | join(" ")' <<<"$targets")" 7777
check "every target is healthy" equal "$(jq -r '[.targetHealthDescriptions[].targetHealth.state] | unique | join(" ")' <<<"$targets")" healthy
check "the pod on node 2 is $pod2" contains "$(nl get pods -o wide)" "$pod2 +ip-192-168-2-146\."

step "3. Capture on node 2 while the bastion curls the NLB ten times"
say "As in the walkthrough: tcpdump on node 2, ten curls from the bastion to the NLB's DNS name." \
	"The VPC resolver answers with the three NLB addresses in rotating order, so about a third" \
	"of the curls go through the NLB's node in AZ b ($nlb_b), which sends only to AZ b's pod."
capture_start node-2 "$CAPTURE" 'port 7777'
curls 10
answers=$ANSWERS
capture_stop
sed 's/^/    answered by /; s/ \([0-9.]*\)$/, which saw the peer \1/' <<<"$answers"
by_pod2=$(grep -c "^$pod2 " <<<"$answers" || true)
check "all ten curls were answered" equal "$(grep -vc failed <<<"$answers")" 10
check "the pod saw an NLB address as its peer, never the bastion or a node" \
	lacks "$(cut -d' ' -f2 <<<"$answers" | sort -u)" "^(192\.168\.1\.100|192\.168\.[123]\.(118|146|137))$"
check "some curls reached $pod2 ($by_pod2), each from the NLB's AZ b address $nlb_b" \
	equal "$(grep "^$pod2 " <<<"$answers" | cut -d' ' -f2 | sort -u)" "$nlb_b"

printf '\n%s$ sudo nlbsim exec --name %s node-2 -- tcpdump -r %s -nn%s\n' "$C" "$NAME" "$CAPTURE" "$Z"
packets=$(nl exec node-2 -- tcpdump -r "$CAPTURE" -nn 2>/dev/null)
grep -E "Flags \[(S|S\.|P\.)\]" <<<"$packets" | sed -n 1,12p | cut -c1-150 | sed 's/^/    /'
say "    … ($(wc -l <<<"$packets") packets; the file is $CAPTURE)" "" \
	"Look at: $nlb_b.PORT > $pod2.7777 — the NLB's private IP talks to the pod directly. The pod's" \
	"node only forwards: each packet shows twice, In on eth0 and Out on the pod's eni… veth, unchanged." \
	"Packets from 192.168.1.51 or 192.168.3.171, if any, are the other NLB nodes' TCP health checks" \
	"(every NLB node checks every target, every 10 s / time scale); they never carry a request."
check "the capture shows $nlb_b → $pod2:7777" contains "$packets" "IP $nlb_b\.[0-9]+ > $pod2\.7777: "
check "and the pod's answers $pod2:7777 → $nlb_b" contains "$packets" "IP $pod2\.7777 > $nlb_b\.[0-9]+: "
http=$(distinct "$packets" "IP $nlb_b\.[0-9]+ > $pod2\.7777: Flags \[P\.\]")
check "each curl that reached $pod2 is one HTTP request in the capture ($http connections)" equal "$http" "$by_pod2"
check "the other NLB nodes send AZ b's pod no request (cross-zone is off)" \
	lacks "$packets" "IP 192\.168\.(1\.51|3\.171)\.[0-9]+ > $pod2\.7777: Flags \[P\.\]"
check "the bastion's address 192.168.1.100 never reaches node 2" lacks "$packets" "192\.168\.1\.100"
check "node 2's own address 192.168.2.146 is in no packet (no node hop, no NodePort)" lacks "$packets" "192\.168\.2\.146"

step "4. Trace: which hop translates?"
show trace -n 3
trace=$(nl trace -n 6 -o json)
say "" "Look at: the only NAT is the NLB node's (DNAT to the pod, SNAT to its own address); node-N" \
	"forwards without NAT."
check "every traced request reached a pod" equal "$(jq '[.requests[] | select(.pod == null or .pod == "")] | length' <<<"$trace")" 0
check "the only NAT hop of each request is an NLB node's DNAT+SNAT" \
	equal "$(jq -c '[.requests[] | [.hops[] | select(.nat != null) | [(.host | startswith("nlb-")), .nat.kind]]] | unique' <<<"$trace")" '[[[true,"DNAT+SNAT"]]]'
check "no node translates" equal "$(jq '[.requests[].hops[] | select((.host | startswith("node-")) and .nat != null)] | length' <<<"$trace")" 0

step "5. Traffic: the spread and the source the pods see"
show traffic -n 90 --alpha 1e-4 || true
say "" "Checked on a second run of 90, as JSON:"
report=$(nl traffic -n 90 --alpha 1e-4 --fail-on-errors -o json) && rc=0 || rc=$?
check "90 requests, no error, the distribution fits the NLB's rules (--alpha 1e-4)" equal "$rc" 0
check "the pods saw exactly the three NLB addresses" \
	equal "$(jq -r '[.bySourceSeen | keys[]] | sort | join(" ")' <<<"$report")" "${nlb_ips[*]}"
check "no node took part (byNode is empty in ip mode)" equal "$(jq -c .byNode <<<"$report")" "{}"

step "6. The picture (nlbsim graph, edges only; paste the whole output into a mermaid block)"
graph=$(nl graph)
grep -E -- '-->|==>|-\.->' <<<"$graph" | sed 's/^ */    /'
check "each NLB node points straight at its AZ's pod" equal "$(grep -cE '^ *nlb_[abc] ==>\|":7777 healthy"\|' <<<"$graph")" 3
check "no node points anywhere" lacks "$graph" '^ *node_[0-9]+ '

lab_finish
