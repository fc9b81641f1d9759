package ruleset

import (
	"fmt"
	"strings"
)

// word is one shell-like token of a rule line. Quoted words are never taken
// for options or "!".
type word struct {
	text   string
	quoted bool
}

// splitWords splits a rule line the way iptables-restore does: on blanks,
// with single- or double-quoted strings as one word and a backslash escaping
// the next character (iptables-save writes `"a \"b\""`).
func splitWords(line string) ([]word, error) {
	words := make([]word, 0, strings.Count(line, " ")+1)
	cur := make([]byte, 0, 64)
	inWord, quoted := false, false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("line ends in a backslash")
			}
			i++
			cur = append(cur, line[i])
			inWord = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur = append(cur, c)
			}
		case c == '"' || c == '\'':
			quote, quoted, inWord = c, true, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word{string(cur), quoted})
				cur, inWord, quoted = cur[:0], false, false
			}
		default:
			cur = append(cur, c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, word{string(cur), quoted})
	}
	return words, nil
}
