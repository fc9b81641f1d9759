package sim

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// PauseEnv names the test hook that stops a first Up before one of its
// steps (UpSteps), so that a test can kill or interrupt it exactly there.
const PauseEnv = "NLBSIM_PAUSE_AT"

// pauseHookFromEnv returns, when NLBSIM_PAUSE_AT names a step, a BeforeStep
// hook that prints "paused at <step>" on stderr before that step and blocks
// until the process gets SIGINT or SIGTERM; it then returns an error, so Up
// rolls back as after any interruption. (The hook waits for the signals
// itself: it has no context, and a pause that only SIGKILL could end would
// hide a rollback that does not happen.) An unknown step fails the first
// step at once. Without the variable it returns nil.
func pauseHookFromEnv() func(string) error {
	at := os.Getenv(PauseEnv)
	if at == "" {
		return nil
	}
	if !slices.Contains(UpSteps, at) {
		return func(string) error {
			return fmt.Errorf("%s=%q is not a step of up (steps: %s)", PauseEnv, at, strings.Join(UpSteps, ", "))
		}
	}
	return func(step string) error {
		if step != at {
			return nil
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		fmt.Fprintf(os.Stderr, "paused at %s (pid %d; SIGINT or SIGTERM rolls back, SIGKILL leaves what was built)\n", step, os.Getpid())
		sig := <-sigs
		return fmt.Errorf("%v while paused at %s (%s)", sig, step, PauseEnv)
	}
}
