package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

//go:embed assets
var assets embed.FS

// TokenHeader carries the per-run token on every request that changes
// something.
const TokenHeader = "X-Nlbsim-Token"

// Config sets up a server.
type Config struct {
	Cluster string
	Backend Backend
	// Addr is the address the server listens on (host:port): with a
	// loopback host, requests must name a loopback host too.
	Addr string
	// Token authorises changes; NewToken makes one per run.
	Token string
	// Poll is how often the state files are read (default 500ms); node
	// rules are read every fourth poll while a page watches.
	Poll time.Duration
}

// Server is the UI of one cluster.
type Server struct {
	cfg Config
	mux *http.ServeMux
	// loopbackOnly accepts only requests that name a loopback host (any
	// port, for SSH tunnels): a page cannot reach the server through a DNS
	// name rebound to 127.0.0.1.
	loopbackOnly bool

	busy sync.Mutex // one change or run at a time
	live *live
}

// NewToken returns a random token for one run of the server.
func NewToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// IsLoopback reports whether addr (host:port) listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackHost reports whether a Host header names a loopback host.
func isLoopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return IsLoopback(net.JoinHostPort(strings.Trim(host, "[]"), "0"))
}

// New makes the server of a cluster; Run starts its watcher.
func New(cfg Config) *Server {
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), live: newLive(cfg.Backend), loopbackOnly: IsLoopback(cfg.Addr)}
	sub, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(sub)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		b, _ := assets.ReadFile("assets/index.html")
		w.Write(b)
	})
	s.mux.Handle("GET /assets/", http.StripPrefix("/assets/", files))
	s.mux.HandleFunc("GET /api/state", s.handleState)
	s.mux.HandleFunc("GET /api/stream", s.handleStream)
	s.mux.HandleFunc("POST /api/trace", s.change(s.handleTrace))
	s.mux.HandleFunc("POST /api/traffic", s.change(s.handleTraffic))
	s.mux.HandleFunc("POST /api/scale", s.change(s.handleScale))
	s.mux.HandleFunc("POST /api/pod", s.change(s.handlePod))
	s.mux.HandleFunc("POST /api/node", s.change(s.handleNode))
	s.mux.HandleFunc("POST /api/settings", s.change(s.handleSettings))
	return s
}

// URL is the address to open, with the token that allows changes.
func (s *Server) URL(addr string) string {
	return fmt.Sprintf("http://%s/?token=%s", addr, s.cfg.Token)
}

// Run watches the cluster's state and pushes changes to the pages until
// ctx ends.
func (s *Server) Run(ctx context.Context) {
	s.live.watch(ctx, s.cfg.Poll)
}

// ServeHTTP answers one request: the Host check first, then the route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.loopbackOnly && !isLoopbackHost(r.Host) {
		writeError(w, http.StatusForbidden, fmt.Errorf("host %q is not a loopback address, and this server listens on loopback only", r.Host))
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	s.mux.ServeHTTP(w, r)
}

// apiError is an error with the HTTP status it is answered with.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }

func badRequest(format string, a ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Errorf(format, a...)}
}

func notFound(format string, a ...any) error {
	return &apiError{http.StatusNotFound, fmt.Errorf(format, a...)}
}

// change wraps a handler that changes the cluster or sends it traffic: the
// token and a same-origin Origin are required, one change runs at a time,
// and the result or error is answered as JSON.
func (s *Server) change(h func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(TokenHeader)
		if s.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) != 1 {
			writeError(w, http.StatusForbidden, errors.New("read-only: changes need the token of the URL nlbsim ui printed"))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "http://"+r.Host {
			writeError(w, http.StatusForbidden, fmt.Errorf("origin %q is not this page's (http://%s)", origin, r.Host))
			return
		}
		if !s.busy.TryLock() {
			writeError(w, http.StatusConflict, errors.New("busy: another change or run is in progress; try again when it has finished"))
			return
		}
		defer s.busy.Unlock()
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		// A change goes to its end even when the page goes away: a
		// half-done change would only be rolled back.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), changeTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		s.live.setBusy(busyText[r.URL.Path])
		res, err := h(r)
		s.live.setBusy("")
		s.live.poke()
		if errors.Is(err, sim.ErrNeedsRoot) {
			err = fmt.Errorf("%w (run nlbsim ui with sudo)", err)
		}
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// changeTimeout bounds one change or run (20,000 requests included).
const changeTimeout = 10 * time.Minute

// busyText says what a change in progress does.
var busyText = map[string]string{
	"/api/trace": "tracing requests", "/api/traffic": "sending traffic", "/api/scale": "scaling",
	"/api/pod": "changing a pod", "/api/node": "changing a node", "/api/settings": "changing the NLB in place (up)",
}

// statusOf maps the library's kinds of error to HTTP statuses.
func statusOf(err error) int {
	var api *apiError
	var invalid *topology.InvalidError
	switch {
	case errors.As(err, &api):
		return api.status
	case errors.As(err, &invalid):
		return http.StatusBadRequest
	case errors.Is(err, sim.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, sim.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, sim.ErrNeedsRoot):
		return http.StatusForbidden
	case errors.Is(err, sim.ErrNoCluster), errors.Is(err, sim.ErrNotRunning):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// decode reads a JSON body strictly: unknown fields are bad input.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad request body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }
