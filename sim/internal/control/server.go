package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/state"
	"github.com/nlbsim/nlbsim/sim/simerr"
	"github.com/nlbsim/nlbsim/topology"
)

// Status is what a supervisor reports about itself.
type Status struct {
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	Listeners int       `json:"listeners"`
}

// Server is what answers on the socket: the supervisor.
type Server interface {
	Status() Status
	// Do carries out an action on the live world.
	Do(Action) error
	// ReloadSaved applies the world saved in the state directory (an
	// in-place change made by up or apply).
	ReloadSaved() error
}

// Handler answers the protocol's requests: GET /status, POST /do and
// POST /reload. Errors keep their kind: 404 not found, 400 bad input,
// 500 anything else.
func Handler(s Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(s.Status())
	})
	mux.HandleFunc("POST /do", func(rw http.ResponseWriter, r *http.Request) {
		var a Action
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			writeError(rw, &topology.InvalidError{Err: fmt.Errorf("decoding action: %w", err)})
			return
		}
		writeError(rw, s.Do(a))
	})
	mux.HandleFunc("POST /reload", func(rw http.ResponseWriter, r *http.Request) {
		writeError(rw, s.ReloadSaved())
	})
	return mux
}

func writeError(rw http.ResponseWriter, err error) {
	var invalid *topology.InvalidError
	switch {
	case err == nil:
	case errors.Is(err, simerr.ErrNotFound):
		http.Error(rw, err.Error(), http.StatusNotFound)
	case errors.As(err, &invalid):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	default:
		http.Error(rw, err.Error(), http.StatusInternalServerError)
	}
}

// Serve answers on a cluster's control socket until ctx ends.
func Serve(ctx context.Context, cluster string, s Server, logger *log.Logger) error {
	path := state.SocketFile(cluster)
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	srv := &http.Server{Handler: Handler(s), ErrorLog: logger, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
