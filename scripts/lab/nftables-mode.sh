#!/usr/bin/env bash
# The walkthrough's instance-mode analysis with kube-proxy in nftables mode
# (issue 19), its claims checked: the same cluster and the same ten curls,
# but table ip kube-proxy instead of the KUBE-SVC chain — the service-ips
# and service-nodeports verdict maps, a numgen vmap with 1/3 each — the same
# spread, the same sources; then back to iptables mode in place, with no
# rule of the other mode left.
LAB="nftables-mode"
LAB_DEFAULT_NAME=lab-nftables
LAB_USAGE="The walkthrough's instance-mode experiment with kube-proxy in nftables mode (v1.33), checked."
# shellcheck source=scripts/lab/lib.bash
. "$(dirname "$0")/lib.bash"
lab_init "$@"

node_ips=(192.168.1.118 192.168.2.146 192.168.3.137)
node2=192.168.2.146
svc_chain=service-UZX5NTXH-default/nginx-nlb-service/tcp/
ext_chain=external-UZX5NTXH-default/nginx-nlb-service/tcp/

step "1. Up in instance mode with kube-proxy in nftables mode"
say "kube-proxy's nftables mode is GA since v1.33 and what EKS's best practices recommend for large" \
	"clusters; nlbsim's nftables mode models kube-proxy v1.33 (its nodes run Amazon Linux 2023)."
up --mode instance --proxy-mode nftables || { check "the cluster comes up" false; lab_finish; }
show get nodes
check "the nodes run Kubernetes v1.33" contains "$OUT" "Ready +<none> +[0-9smh]+ +v1\.33\."

step "2. Where the KUBE-SVC chain went: table ip kube-proxy on node 2"
printf '\n%s$ sudo nlbsim nft --name %s node-2%s   (the maps and nginx-nlb-service'"'"'s chains)\n' "$C" "$NAME" "$Z"
table=$(nl nft node-2)
awk -v svc="$svc_chain" -v ext="$ext_chain" '
	/^\t(map service-ips|map service-nodeports|chain services) / || $0 ~ "^\tchain (" svc "|" ext ")" || /^\tchain endpoint-.*nginx-nlb-service/ { on = 1 }
	on { print "    " $0 }
	on && /^\t}/ { on = 0 }' <<<"$table"
say "Look at: services looks the packet's (address . protocol . port) up in the service-ips map, and" \
	"for the node's own address its (protocol . port) in service-nodeports — one lookup however many" \
	"Services there are, where iptables walks KUBE-SERVICES rule by rule. 32392 goes to $ext_chain," \
	"which marks for masquerade and goes to $svc_chain; there one numgen random mod 3 vmap picks" \
	"0, 1 or 2 — 1/3 each, not the cascade of 0.33333333349 and 0.50000000000 of iptables mode."
check "service-ips sends 10.100.30.185 . tcp . 7777 to $svc_chain" contains "$table" "10\.100\.30\.185 \. tcp \. 7777 : goto $svc_chain"
check "service-nodeports sends tcp . 32392 to $ext_chain" contains "$table" "tcp \. 32392 : goto $ext_chain"
check "the service chain spreads with numgen random mod 3 over the three pods' endpoint chains" \
	contains "$table" "numgen random mod 3 vmap \{ 0 : goto endpoint-[A-Z0-9]+-default/nginx-nlb-service/tcp/__192\.168\.1\.248/7777, 1 : goto endpoint-[A-Z0-9]+-default/nginx-nlb-service/tcp/__192\.168\.2\.206/7777, 2 : goto endpoint-[A-Z0-9]+-default/nginx-nlb-service/tcp/__192\.168\.3\.111/7777 \}"
check "each endpoint chain DNATs to its pod" equal "$(grep -cE 'meta l4proto tcp dnat to 192\.168\.[123]\.(248|206|111):7777' <<<"$table")" 3
check "the external chain marks for masquerade (externalTrafficPolicy Cluster)" contains "$table" "jump mark-for-masquerade"
show iptables node-2 -t nat
check "iptables on node 2 holds no KUBE-SVC chain any more (only the VPC CNI's and kubelet's rules)" lacks "$OUT" "KUBE-SVC-|KUBE-SERVICES"

step "3. The walk: exact probabilities from the live table"
show explain --node node-2 --from external --src 192.168.1.51 --dst "$node2:32392"
report=$(nl explain --node node-2 --from external --src 192.168.1.51 --dst "$node2:32392" -o json)
check "three outcomes, one per pod, 1/3 each" equal "$(jq -c '[.outcomes[].probability] | map(. * 3 | . * 1e9 | round) | unique' <<<"$report")" '[1000000000]'
check "each is DNATed and masqueraded to node 2's address" \
	equal "$(jq -c '[.outcomes[] | [.verdict, .masquerade, .snat]] | unique' <<<"$report")" "[[\"DNAT\",true,\"$node2\"]]"

step "4. Ten curls from the bastion, as in the walkthrough"
curls 10
sed 's/^/    answered by /; s/ \([0-9.]*\)$/, which saw the peer \1/' <<<"$ANSWERS"
node_re=$(IFS='|' && echo "${node_ips[*]}")
check "all ten curls were answered" equal "$(grep -vc failed <<<"$ANSWERS")" 10
check "the pods saw a node's address as their peer (masquerade), as in iptables mode" \
	equal "$(cut -d' ' -f2 <<<"$ANSWERS" | grep -cvE "^($node_re)$" || true)" 0

step "5. The spread against the live nft table"
show traffic -n 300 --alpha 1e-4 || true
report=$(nl traffic -n 300 --alpha 1e-4 --fail-on-errors -o json) && rc=0 || rc=$?
check "300 requests, no error, the distribution fits the table's 1/3 each (--alpha 1e-4)" equal "$rc" 0
check "the expectation is a third per pod" equal "$(jq -c '[.expected[] | . * 3 | . * 1e6 | round] | unique' <<<"$report")" '[1000000]'
check "the pods saw exactly the three node IPs" \
	equal "$(jq -r '[.bySourceSeen | keys[]] | sort | join(" ")' <<<"$report")" "${node_ips[*]}"
trace=$(nl trace -n 3 -o json)
check "trace names the endpoint- chain and masquerading as what translated on the node" \
	equal "$(jq -c '[.requests[] | [.hops[] | select((.host | startswith("node-")) and .nat != null) | (.nat.by | test("^endpoint-[A-Z0-9]+-default/nginx-nlb-service/tcp/__192\\.168\\.[123]\\.[0-9]+/7777, masquerading$"))]] | unique' <<<"$trace")" '[[true]]'

step "6. Side by side, without a cluster: the same node in both modes"
printf '\n%s$ nlbsim rules --node node-2 --proxy-mode iptables | grep nginx-nlb-service%s\n' "$C" "$Z"
ipt=$("$NLBSIM" rules --name "$NAME" --node node-2 --proxy-mode iptables 2>/dev/null)
grep -E 'KUBE-SVC-VDXCGHLC7LJVQSZ7 ' <<<"$ipt" | sed 's/^/    /'
printf '%s$ nlbsim rules --node node-2 --proxy-mode nftables | grep %s%s\n' "$C" "$svc_chain" "$Z"
nft=$("$NLBSIM" rules --name "$NAME" --node node-2 --proxy-mode nftables 2>/dev/null)
grep -F "add rule ip kube-proxy $svc_chain " <<<"$nft" | sed 's/^/    /'
check "iptables mode: a cascade of statistic probabilities (1/3, then 1/2 of the rest)" contains "$ipt" "statistic --mode random --probability 0\.3333333333 .*\n?"
check "nftables mode: one numgen vmap" contains "$nft" "add rule ip kube-proxy $svc_chain numgen random mod 3 vmap"

step "7. Back to iptables mode in place: upstream's cleanup, no rule of the other mode left"
up --proxy-mode iptables || check "the cluster switches back" false
ruleset=$(nl exec node-2 -- nft list ruleset 2>/dev/null)
saved=$(nl exec node-2 -- iptables-save)
check "table ip kube-proxy is gone" lacks "$ruleset" "table ip kube-proxy"
check "KUBE-SVC-VDXCGHLC7LJVQSZ7 is back" contains "$saved" "KUBE-SVC-VDXCGHLC7LJVQSZ7"
show get nodes
check "the nodes run v1.30 again" contains "$OUT" "v1\.30\.4-eks-a737599"
report=$(nl traffic -n 150 --alpha 1e-4 --fail-on-errors -o json) && rc=0 || rc=$?
check "traffic flows and fits after the switch" equal "$rc" 0

lab_finish
