package sim

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// PauseAt returns a BeforeStep hook for interruption tests: before step it
// prints "paused at <step>" on stderr and blocks until the process gets
// SIGINT or SIGTERM; it then returns an error, so Up rolls back as after any
// interruption. (The hook waits for the signals itself: it has no context,
// and a pause that only SIGKILL could end would hide a rollback that does
// not happen.) A step that is not one of UpSteps is bad input.
func PauseAt(step string) (func(string) error, error) {
	if !slices.Contains(UpSteps, step) {
		return nil, &InvalidStepError{Step: step}
	}
	return func(at string) error {
		if at != step {
			return nil
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		fmt.Fprintf(os.Stderr, "paused at %s (pid %d; SIGINT or SIGTERM rolls back, SIGKILL leaves what was built)\n", step, os.Getpid())
		sig := <-sigs
		return fmt.Errorf("%v while paused at %s", sig, step)
	}, nil
}

// InvalidStepError names a step that Up does not have.
type InvalidStepError struct{ Step string }

func (e *InvalidStepError) Error() string {
	return fmt.Sprintf("%q is not a step of up (steps: %s)", e.Step, strings.Join(UpSteps, ", "))
}
