package explain

import (
	"fmt"
	"strings"

	"github.com/nlbsim/nlbsim/nat/ruleset"
)

// checkLoops refuses rulesets whose jumps or gotos form a cycle, as the
// kernel does when they are loaded; a walk through one would never end.
func checkLoops(d *ruleset.Dump) error {
	for _, t := range d.Tables {
		if cycle := findCycle(t); cycle != nil {
			return fmt.Errorf("table %s: chains jump in a loop: %s", t.Name, strings.Join(cycle, " -> "))
		}
	}
	return nil
}

// findCycle returns the chains of one jump cycle in t, or nil.
func findCycle(t *ruleset.Table) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(c *ruleset.Chain) []string
	visit = func(c *ruleset.Chain) []string {
		state[c.Name] = onPath
		path = append(path, c.Name)
		for _, r := range c.Rules {
			if r.Target == nil || !r.Target.Chain {
				continue
			}
			next := t.Chain(r.Target.Name)
			switch state[next.Name] {
			case onPath:
				start := 0
				for path[start] != next.Name {
					start++
				}
				return append(append([]string{}, path[start:]...), next.Name)
			case unseen:
				if cycle := visit(next); cycle != nil {
					return cycle
				}
			}
		}
		path = path[:len(path)-1]
		state[c.Name] = done
		return nil
	}
	for _, c := range t.Chains {
		if state[c.Name] == unseen {
			if cycle := visit(c); cycle != nil {
				return cycle
			}
		}
	}
	return nil
}
