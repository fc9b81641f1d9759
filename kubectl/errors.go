package kubectl

import (
	"fmt"
	"strings"
)

// NotFoundError is kubectl's NotFound: a named object does not exist. The
// CLI prints it as is and exits 1.
type NotFoundError struct {
	Resource string // plural, with the API group when it has one: services, deployments.apps
	Name     string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Error from server (NotFound): %s %q not found", e.Resource, e.Name)
}

// UsageError is bad input: an unknown resource type, a bad -o value, a
// name where none may be given. The CLI exits 2 on it.
type UsageError struct {
	Problem string
	Valid   []string // the choices that would have worked, if there is a list
}

func (e *UsageError) Error() string {
	if len(e.Valid) == 0 {
		return e.Problem
	}
	return fmt.Sprintf("%s (valid: %s)", e.Problem, strings.Join(e.Valid, ", "))
}

// Notice is not a failure but what kubectl says on stderr when nothing
// matched ("No resources found in default namespace."); the CLI prints it
// on stderr and exits 0.
type Notice struct{ Message string }

func (n *Notice) Error() string { return n.Message }
