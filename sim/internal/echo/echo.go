// Package echo is the pods' echo protocol: what every pod's server answers
// and every client of nlbsim decodes.
package echo

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Reply is what every pod's server answers: who served the request and
// whom the accepted socket saw as its peer.
type Reply struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	PodIP     string `json:"podIP"`
	Node      string `json:"node"`
	Peer      string `json:"peer"`  // the accepted socket's remote address
	Local     string `json:"local"` // the accepted socket's local address
}

// Handler answers with the pod's identity: plain text for curl, JSON
// when the client asks for application/json.
func Handler(identity Reply) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		reply := identity
		reply.Peer = r.RemoteAddr
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			reply.Local = a.String()
		}
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			rw.Header().Set("Content-Type", "application/json")
			json.NewEncoder(rw).Encode(reply)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(rw, "pod: %s\nnamespace: %s\npod IP: %s\nnode: %s\npeer: %s\n",
			reply.Pod, reply.Namespace, reply.PodIP, reply.Node, reply.Peer)
	})
}
