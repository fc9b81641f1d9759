package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// The logs a cluster's state directory keeps, one JSON document a line.
const (
	EventsLog = "events.jsonl" // what happened in the living cluster
	RunsLog   = "runs.jsonl"   // traffic and trace runs, for viewers
)

// AppendLog adds v as one line at the end of one of a cluster's logs.
func AppendLog(cluster, log string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(Dir(cluster), log), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(b, '\n'))
	return err
}

// ReadLog returns the documents of one of a cluster's logs from offset on
// (bytes into the log) and the offset after them; a line without its
// newline is still being written and waits for the next read. It needs no
// root.
func ReadLog[T any](cluster, log string, offset int64) ([]T, int64, error) {
	f, err := os.Open(filepath.Join(Dir(cluster), log))
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
	var out []T
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return out, offset, nil
		}
		offset += int64(len(line))
		var v T
		if json.Unmarshal(line, &v) == nil {
			out = append(out, v)
		}
	}
}
