package geo

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// The public sources of the registry, github.com/cahyadsn/wilayah and
// github.com/cahyadsn/wilayah_boundaries, are SQL dumps: INSERT INTO t
// (columns) VALUES (…),(…); statements. sqlValue and scanSQLInserts read
// exactly that much SQL, without a database, and name the line of anything
// they cannot read.

// sqlValue is one value of a VALUES tuple.
type sqlValue struct {
	s      string // the text: unquoted for strings, the token for numbers
	quoted bool
	null   bool
}

type sqlScanner struct {
	name string // file name, for messages
	src  []byte
	i    int
	line int
}

func (sc *sqlScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%s line %d: %s", sc.name, sc.line, fmt.Sprintf(format, args...))
}

// skipSpace skips white space and comments.
func (sc *sqlScanner) skipSpace() error {
	for sc.i < len(sc.src) {
		c := sc.src[sc.i]
		switch {
		case c == '\n':
			sc.line++
			sc.i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			sc.i++
		case c == '/' && sc.i+1 < len(sc.src) && sc.src[sc.i+1] == '*':
			end := bytes.Index(sc.src[sc.i+2:], []byte("*/"))
			if end < 0 {
				return sc.errorf("comment /* is never closed")
			}
			sc.line += bytes.Count(sc.src[sc.i:sc.i+2+end], []byte{'\n'})
			sc.i += end + 4
		case c == '-' && sc.i+1 < len(sc.src) && sc.src[sc.i+1] == '-' || c == '#':
			end := bytes.IndexByte(sc.src[sc.i:], '\n')
			if end < 0 {
				sc.i = len(sc.src)
			} else {
				sc.i += end
			}
		default:
			return nil
		}
	}
	return nil
}

// word reads an identifier or keyword, without quotes.
func (sc *sqlScanner) word() string {
	start := sc.i
	if sc.i < len(sc.src) && (sc.src[sc.i] == '`' || sc.src[sc.i] == '"') {
		q := sc.src[sc.i]
		end := bytes.IndexByte(sc.src[sc.i+1:], q)
		if end < 0 {
			return ""
		}
		sc.i += end + 2
		return string(sc.src[start+1 : sc.i-1])
	}
	for sc.i < len(sc.src) {
		c := sc.src[sc.i]
		if c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			sc.i++
			continue
		}
		break
	}
	return string(sc.src[start:sc.i])
}

// quoted reads a '…' string: ” and \' are a quote.
func (sc *sqlScanner) quoted() (string, error) {
	startLine := sc.line
	sc.i++ // the opening quote
	var b []byte
	start := sc.i
	for sc.i < len(sc.src) {
		c := sc.src[sc.i]
		switch c {
		case '\'':
			if sc.i+1 < len(sc.src) && sc.src[sc.i+1] == '\'' {
				b = append(b, sc.src[start:sc.i+1]...)
				sc.i += 2
				start = sc.i
				continue
			}
			sc.i++
			if b == nil {
				return string(sc.src[start : sc.i-1]), nil
			}
			return string(append(b, sc.src[start:sc.i-1]...)), nil
		case '\\':
			if sc.i+1 >= len(sc.src) {
				break
			}
			b = append(b, sc.src[start:sc.i]...)
			switch e := sc.src[sc.i+1]; e {
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			case '0':
				b = append(b, 0)
			default:
				b = append(b, e)
			}
			sc.i += 2
			start = sc.i
			continue
		case '\n':
			sc.line++
		}
		sc.i++
	}
	sc.line = startLine
	return "", sc.errorf("string is never closed")
}

// skipStatement skips to the end of the statement (after its ;).
func (sc *sqlScanner) skipStatement() error {
	for sc.i < len(sc.src) {
		if err := sc.skipSpace(); err != nil {
			return err
		}
		if sc.i >= len(sc.src) {
			return nil
		}
		switch c := sc.src[sc.i]; c {
		case ';':
			sc.i++
			return nil
		case '\'':
			if _, err := sc.quoted(); err != nil {
				return err
			}
		case '`', '"':
			if sc.word() == "" {
				return sc.errorf("quoted name is never closed")
			}
		default:
			sc.i++
		}
	}
	return nil
}

func (sc *sqlScanner) expect(c byte) error {
	if err := sc.skipSpace(); err != nil {
		return err
	}
	if sc.i >= len(sc.src) {
		return sc.errorf("file ends where %q was expected", c)
	}
	if sc.src[sc.i] != c {
		return sc.errorf("found %q where %q was expected", clipBytes(sc.src[sc.i:], 20), c)
	}
	sc.i++
	return nil
}

func clipBytes(b []byte, n int) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i < n {
		n = i
	}
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// scanSQLInserts calls fn with every tuple of every INSERT INTO table
// (columns) VALUES statement of src, and with the line the tuple starts on.
// Other statements (CREATE, DELETE, …) and comments are skipped. An INSERT
// into table with other columns is an error, so a changed dump is refused
// rather than read into the wrong fields. It returns how many tuples it read.
func scanSQLInserts(name string, src []byte, table string, columns []string, fn func(line int, vals []sqlValue) error) (int, error) {
	sc := &sqlScanner{name: name, src: src, line: 1}
	n := 0
	var vals []sqlValue
	for {
		if err := sc.skipSpace(); err != nil {
			return n, err
		}
		if sc.i >= len(sc.src) {
			return n, nil
		}
		stmtLine := sc.line
		first := sc.word()
		if !strings.EqualFold(first, "INSERT") {
			if first == "" && sc.src[sc.i] == ';' {
				sc.i++ // an empty statement
				continue
			}
			if first == "" {
				sc.i++ // not a word: skip it with the statement
			}
			if err := sc.skipStatement(); err != nil {
				return n, err
			}
			continue
		}
		if err := sc.skipSpace(); err != nil {
			return n, err
		}
		if w := sc.word(); !strings.EqualFold(w, "INTO") {
			return n, sc.errorf("INSERT without INTO")
		}
		if err := sc.skipSpace(); err != nil {
			return n, err
		}
		if t := sc.word(); !strings.EqualFold(t, table) {
			if err := sc.skipStatement(); err != nil {
				return n, err
			}
			continue
		}
		if err := sc.expect('('); err != nil {
			return n, err
		}
		var cols []string
		for {
			if err := sc.skipSpace(); err != nil {
				return n, err
			}
			w := sc.word()
			if w == "" {
				return n, sc.errorf("a column name was expected")
			}
			cols = append(cols, strings.ToLower(w))
			if err := sc.skipSpace(); err != nil {
				return n, err
			}
			if sc.i < len(sc.src) && sc.src[sc.i] == ',' {
				sc.i++
				continue
			}
			if err := sc.expect(')'); err != nil {
				return n, err
			}
			break
		}
		if !slices.Equal(cols, columns) {
			sc.line = stmtLine
			return n, sc.errorf("INSERT INTO %s has columns (%s), want (%s)", table, strings.Join(cols, ","), strings.Join(columns, ","))
		}
		if err := sc.skipSpace(); err != nil {
			return n, err
		}
		if w := sc.word(); !strings.EqualFold(w, "VALUES") {
			return n, sc.errorf("VALUES was expected after the columns")
		}
		for {
			if err := sc.expect('('); err != nil {
				return n, err
			}
			line := sc.line
			vals = vals[:0]
			for {
				if err := sc.skipSpace(); err != nil {
					return n, err
				}
				if sc.i >= len(sc.src) {
					return n, sc.errorf("file ends inside a tuple")
				}
				var v sqlValue
				if sc.src[sc.i] == '\'' {
					s, err := sc.quoted()
					if err != nil {
						return n, err
					}
					v = sqlValue{s: s, quoted: true}
				} else {
					start := sc.i
					for sc.i < len(sc.src) && !strings.ContainsRune(",) \t\r\n", rune(sc.src[sc.i])) {
						sc.i++
					}
					tok := string(sc.src[start:sc.i])
					if tok == "" {
						return n, sc.errorf("a value was expected, found %q", clipBytes(sc.src[sc.i:], 20))
					}
					v = sqlValue{s: tok, null: strings.EqualFold(tok, "NULL")}
				}
				vals = append(vals, v)
				if err := sc.skipSpace(); err != nil {
					return n, err
				}
				if sc.i < len(sc.src) && sc.src[sc.i] == ',' {
					sc.i++
					continue
				}
				if err := sc.expect(')'); err != nil {
					return n, err
				}
				break
			}
			if len(vals) != len(columns) {
				return n, fmt.Errorf("%s line %d: %d values, want %d (%s)", name, line, len(vals), len(columns), strings.Join(columns, ","))
			}
			n++
			if err := fn(line, vals); err != nil {
				return n, err
			}
			if err := sc.skipSpace(); err != nil {
				return n, err
			}
			if sc.i >= len(sc.src) {
				return n, sc.errorf("file ends before the ; of the INSERT")
			}
			if sc.src[sc.i] == ',' {
				sc.i++
				continue
			}
			if err := sc.expect(';'); err != nil {
				return n, err
			}
			break
		}
	}
}
