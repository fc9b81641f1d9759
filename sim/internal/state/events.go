package state

import (
	"fmt"
	"time"
)

// Event is one thing that happened in a living cluster, as kubectl get
// events shows it: endpoints changed, rules synced, targets registered…
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // Normal or Warning
	Reason  string    `json:"reason"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
}

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// AppendEvent records an event at the end of a cluster's event log.
func AppendEvent(cluster string, e Event) error { return AppendLog(cluster, EventsLog, e) }

// ReadEvents returns a cluster's events from offset on (bytes into the log)
// and the offset after them, for events -w. It needs no root.
func ReadEvents(cluster string, offset int64) ([]Event, int64, error) {
	return ReadLog[Event](cluster, EventsLog, offset)
}

// String is the event as one line of `events`.
func (e Event) String() string {
	return fmt.Sprintf("%s  %-7s  %-22s  %-40s  %s", e.Time.Local().Format("15:04:05.000"), e.Type, e.Reason, e.Object, e.Message)
}
