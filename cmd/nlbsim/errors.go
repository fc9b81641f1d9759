package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nlbsim/nlbsim/sim"
	"github.com/nlbsim/nlbsim/topology"
)

// usageError marks bad usage: a wrong flag, argument or value.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// fieldFlags names the flag of each field of topology.Spec and
// sim.TrafficOptions that the library's errors name.
var fieldFlags = map[string]string{
	"Name": "--name", "Mode": "--mode", "Nodes": "--nodes", "Replicas": "--replicas", "Minimal": "--minimal",
	"InstanceType": "--instance-type", "ExternalTrafficPolicy": "--external-traffic-policy", "TimeScale": "--time-scale",
	"To": "--to", "From": "--from", "Chaos": "--chaos", "Requests": "-n", "ProxyMode": "--proxy-mode",
	"Services": "--services", "EndpointsPerService": "--endpoints-per-service", "SubnetPrefixLength": "--subnet-prefix-length",
}

// describe turns an error of the library into what a person at the terminal
// needs: the message, a hint with the command that helps, and the exit code
// (1 runtime failure, 2 bad usage or bad input).
func describe(err error, cluster string) (msg string, code int) {
	msg, code = err.Error(), 1
	var (
		usage    *usageError
		invalid  *topology.InvalidError
		rebuild  *sim.RebuildError
		retained *sim.RetainedError
		leftover *sim.LeftoverError
	)
	var input *inputError
	isUsage, isInvalid := errors.As(err, &usage), errors.As(err, &invalid)
	if isUsage || isInvalid || errors.As(err, &input) {
		code = 2
	}
	if isInvalid && fieldFlags[invalid.Field] != "" {
		msg = strings.Replace(msg, invalid.Error(), fieldFlags[invalid.Field]+": "+invalid.Err.Error(), 1)
	}
	switch {
	case errors.As(err, &rebuild):
		flags := make([]string, len(rebuild.Fields))
		for i, f := range rebuild.Fields {
			flags[i] = fieldFlags[f]
		}
		msg = fmt.Sprintf("cluster %q is running: changing %s needs a new cluster (nlbsim down --name %s, then up)",
			rebuild.Cluster, strings.Join(flags, ", "), rebuild.Cluster)
	case errors.Is(err, sim.ErrNeedsRoot):
		msg = "this command needs root (run it with sudo): it creates and enters network namespaces"
	case errors.Is(err, sim.ErrNoCluster):
		msg = fmt.Sprintf("no cluster %q is running (start one with: sudo nlbsim up --name %s)", cluster, cluster)
	case errors.Is(err, sim.ErrNotRunning):
		msg += fmt.Sprintf(" (sudo nlbsim up --name %s restarts it)", cluster)
	case errors.Is(err, sim.ErrBusy):
		msg = fmt.Sprintf("cluster %q is being changed by another nlbsim command; try again when it has finished", cluster)
	case errors.As(err, &retained):
		msg += fmt.Sprintf(" (sudo nlbsim down --name %s removes it)", retained.Cluster)
	case errors.As(err, &leftover):
		msg += fmt.Sprintf("; remove them with: sudo nlbsim down --name %s", leftover.Cluster)
	}
	return msg, code
}
