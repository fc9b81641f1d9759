package supervisor

import (
	"time"

	"github.com/nlbsim/nlbsim/sim/internal/state"
)

// Event types.
const (
	eventNormal  = state.EventNormal
	eventWarning = state.EventWarning
)

// event records an event in the cluster's event log; none once the
// supervisor stops (the state directory may be going).
func (s *Supervisor) event(typ, reason, object, message string) {
	e := state.Event{Time: time.Now().UTC(), Type: typ, Reason: reason, Object: object, Message: message}
	s.eventsMu.Lock()
	defer s.eventsMu.Unlock()
	if s.life.Err() != nil {
		return
	}
	if err := state.AppendEvent(s.cluster, e); err != nil {
		s.log.Printf("event %s: %v", reason, err)
	}
}
