package sqlsource

import (
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// DSN is a database data source name. It usually holds a password, so
// every way of printing it (String, GoString, LogValue, MarshalText) masks
// the password; only a conversion to string reveals it, and only the
// dialect's open does that.
type DSN string

// String returns the DSN with its password replaced by "***".
func (d DSN) String() string { return maskDSN(string(d)) }

// GoString masks the password for %#v.
func (d DSN) GoString() string { return "sqlsource.DSN(" + strconv.Quote(d.String()) + ")" }

// LogValue implements slog.LogValuer with the masked DSN.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalText masks the password, so a config dumped as JSON or YAML does
// not carry it.
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// passwordParam matches key=value passwords (SQL Server, ODBC-style and
// URL query forms).
var passwordParam = regexp.MustCompile(`(?i)\b((?:password|passwd|pwd)\s*=\s*)[^&;\s]*`)

// maskDSN hides the password of the DSN layouts hpgate meets: URLs
// (scheme://user:pass@host), go-sql-driver (user:pass@tcp(host)/db), Oracle
// EZConnect (user/pass@host/service) and key=value lists. It errs on the
// side of masking too much.
func maskDSN(s string) string {
	if s == "" {
		return ""
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "***")
		}
		s = u.String()
		s = strings.Replace(s, "%2A%2A%2A@", "***@", 1)
	} else if at := strings.LastIndex(s, "@"); at > 0 {
		cred := s[:at]
		if i := strings.IndexAny(cred, ":/"); i >= 0 {
			s = cred[:i+1] + "***" + s[at:]
		}
	}
	return passwordParam.ReplaceAllString(s, "${1}***")
}
