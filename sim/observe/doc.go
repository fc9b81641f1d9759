// Package observe sends traffic into a running cluster and reports what the
// kernel did with it: where each request went, read from the pods' replies
// and the hosts' conntrack tables, against the distribution that the rules
// installed at that moment predict (traffic), and each request's path hop
// by hop (trace).
package observe
