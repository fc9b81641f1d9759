package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

func eventsFile(cluster string) string { return filepath.Join(Dir(cluster), "events.jsonl") }

// AppendEvent records an event at the end of a cluster's event log.
func AppendEvent(cluster string, e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(eventsFile(cluster), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(b, '\n'))
	return err
}

// ReadEvents returns a cluster's events from offset on (bytes into the log)
// and the offset after them, for events -w. It needs no root.
func ReadEvents(cluster string, offset int64) ([]Event, int64, error) {
	f, err := os.Open(eventsFile(cluster))
	if errors.Is(err, os.ErrNotExist) {
		return nil, offset, nil
	}
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, offset, err
	}
	var out []Event
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil { // a partial last line waits for the next read
			break
		}
		offset += int64(len(line))
		var e Event
		if json.Unmarshal(line, &e) == nil {
			out = append(out, e)
		}
	}
	return out, offset, nil
}

// String is the event as one line of `events`.
func (e Event) String() string {
	return fmt.Sprintf("%s  %-7s  %-22s  %-40s  %s", e.Time.Local().Format("15:04:05.000"), e.Type, e.Reason, e.Object, e.Message)
}
