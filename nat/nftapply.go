package nat

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// ApplyNFT hands nft -f input to the kernel as kube-proxy's knftables does:
// one `nft -f -` per transaction, atomic, fed on stdin, run by run inside
// the node's namespace.
func ApplyNFT(text string, run RunInNamespace) error {
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := run(cmd); err != nil {
		var notFound *exec.Error
		if errors.As(err, &notFound) {
			return fmt.Errorf("nft is not installed: install the nftables package (scripts/provision.sh does)")
		}
		return fmt.Errorf("nft -f: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// CleanupNFT deletes kube-proxy's table, as the nftables proxier's
// CleanupLeftovers does; a table that is not there is no error.
func CleanupNFT(run RunInNamespace) error {
	err := ApplyNFT(NFTCleanupText, run)
	if err != nil && strings.Contains(err.Error(), "No such file or directory") {
		return nil
	}
	return err
}

// ListNFT is `nft ARGS…` run inside a namespace: e.g. "list", "table",
// "ip", "kube-proxy", or "-j", "list", "ruleset".
func ListNFT(run RunInNamespace, args ...string) (string, error) {
	cmd := exec.Command("nft", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := run(cmd); err != nil {
		return "", fmt.Errorf("nft %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}
