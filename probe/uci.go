package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// UCI is one parsed OpenWrt UCI configuration file, such as
// /etc/config/jagadesa. The parser follows libuci's file syntax:
//
//	package <name>
//	config <type> ['<name>']
//		option <key> '<value>'
//		list <key> '<value>'
//
// Values may be single-quoted (taken literally), double-quoted or bare
// (a backslash escapes the next character, and one at the end of a line
// continues the value on the next); adjacent quoted parts join into one
// value. A '#' where a word would start or inside a bare word begins a
// comment, ';' separates commands on one line, and c, o, l and p abbreviate
// the four commands. As in libuci, an option set to an empty value is removed, a named
// section that appears twice is one section, and a list added to a plain
// option turns it into a list.
type UCI struct {
	Package  string        // from a `package` line; empty when the file has none
	Sections []*UCISection // in file order
}

// UCISection is one `config` block.
type UCISection struct {
	Type    string              // `config <type>`
	Name    string              // `config <type> '<name>'`; empty for an anonymous section
	Line    int                 // line of the (first) `config` command
	Options map[string]string   // `option` values
	Lists   map[string][]string // `list` values, in file order
	lines   map[string]int      // where each option or list was (last) set
}

// UCIError is a syntax error in a UCI file, with the line it is on.
type UCIError struct {
	File string // empty when parsing a reader
	Line int
	Msg  string
}

// Error reads "file:line: msg", or "line N: msg" without a file.
func (e *UCIError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// ReadUCIFile parses the UCI file at path; a syntax error names the file and
// the line.
func ReadUCIFile(path string) (*UCI, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, err := ParseUCI(f)
	var ue *UCIError
	if errors.As(err, &ue) {
		ue.File = path
	}
	return u, err
}

// ParseUCI parses a UCI file. The error of a syntax problem is a *UCIError.
func ParseUCI(r io.Reader) (*UCI, error) {
	p := &uciParser{r: bufio.NewReader(r), line: 1}
	u := &UCI{}
	var cur *UCISection
	for {
		words, line, more, err := p.statement()
		if err != nil {
			return nil, err
		}
		if len(words) > 0 {
			if cur, err = u.apply(cur, words, line); err != nil {
				return nil, err
			}
		}
		if !more {
			return u, nil
		}
	}
}

// apply runs one command and returns the section that is now open.
func (u *UCI) apply(cur *UCISection, words []string, line int) (*UCISection, error) {
	fail := func(format string, args ...any) (*UCISection, error) {
		return nil, &UCIError{Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	cmd, args := words[0], words[1:]
	switch cmd {
	case "package", "p":
		if len(args) != 1 || !validUCIName(args[0], true) {
			return fail("package needs one name of letters, digits, '_' or '-'")
		}
		u.Package = args[0]
		return cur, nil
	case "config", "c":
		if len(args) == 0 || args[0] == "" {
			return fail("config without a section type")
		}
		if len(args) > 2 {
			return fail("too many arguments to config (quote values that contain spaces)")
		}
		if !validUCIName(args[0], true) {
			return fail("invalid character in section type %q", args[0])
		}
		name := ""
		if len(args) == 2 {
			name = args[1]
			if name != "" && !validUCIName(name, false) {
				return fail("invalid character in section name %q (letters, digits and '_' only)", name)
			}
		}
		if name != "" {
			if s := u.section(name); s != nil {
				if s.Type != args[0] {
					return fail("section %q of type %q was already declared with type %q on line %d", name, args[0], s.Type, s.Line)
				}
				return s, nil
			}
		}
		s := &UCISection{Type: args[0], Name: name, Line: line,
			Options: map[string]string{}, Lists: map[string][]string{}, lines: map[string]int{}}
		u.Sections = append(u.Sections, s)
		return s, nil
	case "option", "o", "list", "l":
		list := cmd[0] == 'l'
		if cur == nil {
			return fail("%s before the first config section", cmd)
		}
		if len(args) == 0 || args[0] == "" {
			return fail("%s without a name", cmd)
		}
		if len(args) > 2 {
			return fail("too many arguments to %s %s (quote values that contain spaces)", cmd, args[0])
		}
		key := args[0]
		if !validUCIName(key, false) {
			return fail("invalid character in %s name %q (letters, digits and '_' only)", cmd, key)
		}
		value := ""
		if len(args) == 2 {
			value = args[1]
		}
		cur.lines[key] = line
		if list {
			if v, ok := cur.Options[key]; ok {
				// libuci turns the option into a list that starts with its value.
				cur.Lists[key] = append(cur.Lists[key], v)
				delete(cur.Options, key)
			}
			cur.Lists[key] = append(cur.Lists[key], value)
			return cur, nil
		}
		delete(cur.Lists, key)
		if value == "" {
			delete(cur.Options, key) // libuci: setting '' deletes the option
			delete(cur.lines, key)
		} else {
			cur.Options[key] = value
		}
		return cur, nil
	}
	return fail("invalid command %q (want config, option, list or package)", cmd)
}

func (u *UCI) section(name string) *UCISection {
	for _, s := range u.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Section returns the section called name, or nil.
func (u *UCI) Section(name string) *UCISection { return u.section(name) }

// SectionsOf returns the sections of one type, in file order.
func (u *UCI) SectionsOf(typ string) []*UCISection {
	var out []*UCISection
	for _, s := range u.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Get returns an option's value and whether it is set. A list is not an
// option: Get reports false for it.
func (s *UCISection) Get(key string) (string, bool) {
	v, ok := s.Options[key]
	return v, ok
}

// List returns a list's values; for a plain option, its value as the only
// item (as OpenWrt's config_list_foreach does).
func (s *UCISection) List(key string) []string {
	if l, ok := s.Lists[key]; ok {
		return l
	}
	if v, ok := s.Options[key]; ok {
		return []string{v}
	}
	return nil
}

// KeyLine returns the line where key was last set, or the section's line
// when it is not set: for error messages about a value.
func (s *UCISection) KeyLine(key string) int {
	if n, ok := s.lines[key]; ok {
		return n
	}
	return s.Line
}

// Keys returns every option and list name set in the section.
func (s *UCISection) Keys() []string {
	out := make([]string, 0, len(s.lines))
	for k := range s.lines {
		out = append(out, k)
	}
	return out
}

// validUCIName is libuci's rule for names: letters, digits and '_', and
// also '-' in section types and package names.
func validUCIName(s string, dash bool) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case c == '-' && dash:
		default:
			return false
		}
	}
	return true
}

// uciParser splits a UCI file into statements of words.
type uciParser struct {
	r    *bufio.Reader
	line int // line of the next byte
}

func (p *uciParser) next() (byte, bool) {
	c, err := p.r.ReadByte()
	if err != nil {
		return 0, false
	}
	if c == '\n' {
		p.line++
	}
	return c, true
}

func (p *uciParser) peek() (byte, bool) {
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, false
	}
	return b[0], true
}

func (p *uciParser) skipComment() {
	for {
		c, ok := p.peek()
		if !ok || c == '\n' {
			return
		}
		p.next()
	}
}

func isUCISpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

// statement reads the words of one command, up to the end of its line or a
// ';'. It returns the line the command starts on and whether input remains.
func (p *uciParser) statement() (words []string, line int, more bool, err error) {
	for {
		c, ok := p.peek()
		switch {
		case !ok:
			return words, line, false, nil
		case isUCISpace(c):
			p.next()
		case c == '\n' || c == ';':
			p.next()
			return words, line, true, nil
		case c == '#':
			p.skipComment()
		default:
			if len(words) == 0 {
				line = p.line
			}
			w, endsStatement, err := p.word(line)
			if err != nil {
				return nil, 0, false, err
			}
			words = append(words, w)
			if endsStatement {
				p.skipComment() // a '#' inside a bare word ends the line, as in libuci
			}
		}
	}
}

// word reads one value: bare, quoted, or parts of both joined.
// endsStatement reports a '#' that cut the word short. An unterminated
// quote is reported on the command's line (stmt), where the mistake
// usually is, since a quoted value may span lines.
func (p *uciParser) word(stmt int) (w string, endsStatement bool, err error) {
	unterminated := func(q byte, opened int) error {
		msg := fmt.Sprintf("unterminated %c in this command", q)
		if opened != stmt {
			msg += fmt.Sprintf(" (quoted values may span lines: the %c opened on line %d never closes)", q, opened)
		}
		return &UCIError{Line: stmt, Msg: msg}
	}
	var b strings.Builder
	for {
		c, ok := p.peek()
		if !ok || isUCISpace(c) || c == '\n' || c == ';' {
			return b.String(), false, nil
		}
		start := p.line
		switch c {
		case '#':
			return b.String(), true, nil
		case '\'':
			p.next()
			for {
				c, ok := p.next()
				if !ok {
					return "", false, unterminated('\'', start)
				}
				if c == '\'' {
					break
				}
				b.WriteByte(c)
			}
		case '"':
			p.next()
			for {
				c, ok := p.next()
				if !ok {
					return "", false, unterminated('"', start)
				}
				if c == '"' {
					break
				}
				if c == '\\' {
					if !p.escaped(&b) {
						return "", false, unterminated('"', start)
					}
					continue
				}
				b.WriteByte(c)
			}
		case '\\':
			p.next()
			if !p.escaped(&b) {
				return b.String(), false, nil
			}
		default:
			p.next()
			b.WriteByte(c)
		}
	}
}

// escaped handles the byte after a backslash: a line end continues the
// value on the next line, anything else is taken as it is. It reports false
// at the end of the input.
func (p *uciParser) escaped(b *strings.Builder) bool {
	c, ok := p.next()
	if !ok {
		return false
	}
	if c == '\r' {
		if n, ok := p.peek(); ok && n == '\n' {
			p.next()
			return true
		}
	}
	if c != '\n' {
		b.WriteByte(c)
	}
	return true
}
