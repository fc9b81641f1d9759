package netns

import "os/exec"

// RunIn returns a runner that starts commands inside a named namespace: the
// child is forked from a thread that is in it. It fits nat.RunInNamespace.
func RunIn(namespace string) func(cmd *exec.Cmd) error {
	return func(cmd *exec.Cmd) error {
		ns, err := Open(namespace)
		if err != nil {
			return err
		}
		defer ns.Close()
		if err := In(ns, cmd.Start); err != nil {
			return err
		}
		return cmd.Wait()
	}
}
