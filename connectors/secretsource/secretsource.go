// Package secretsource reads a secret named by a config file: the value of
// an environment variable (a *_env key) or the content of a file (a
// *_file key), exactly one of the two. Secrets are never written in a
// config file itself.
//
// Every reader of a password, DSN, signing secret or key in hpgate goes
// through Read, so that the rules are the same everywhere:
//
//   - exactly one of the variable and the file is named (both is an error;
//     neither is an error unless the caller says it is optional);
//   - an unset variable, an empty variable and an empty file are errors;
//   - white space is trimmed as Options.Trim says;
//   - errors are *Error values carrying the config key, so that a config
//     loader can point at the key's line and column, and they name the
//     variable or the file, never the value.
//
// Example:
//
//	dsn, err := secretsource.Read("dsn_env", fc.DSNEnv, "dsn_file", fc.DSNFile, secretsource.Options{})
//	pw, err := secretsource.Read("password_env", fc.PasswordEnv, "password_file", fc.PasswordFile,
//		secretsource.Options{Trim: secretsource.TrimNewline})
package secretsource

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Trim says what Read removes around a value.
type Trim uint8

const (
	// TrimSpace removes leading and trailing white space from either
	// source: for DSNs, keys and tokens, where it is never meant.
	TrimSpace Trim = iota
	// TrimNewline is for passwords, which may begin or end with a space:
	// a variable's value is kept as it is, and from a file only the
	// trailing line ends (CR, LF) that editors add are removed.
	TrimNewline
)

// Options tune Read. The zero value trims white space and makes a secret
// named by neither key an error.
type Options struct {
	Trim Trim
	// Optional makes Read return "", nil when neither envKey's nor
	// fileKey's value is set.
	Optional bool
	// Missing replaces the message of the error returned when neither is
	// set (default: "set <envKey> or <fileKey>: secrets are never written
	// in the config").
	Missing string
}

// Error is a problem reading the secret named by the config key Key
// ("dsn_env", "sasl.password_file"). Its text names the environment
// variable or the file, never the value.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the underlying problem (an *os.PathError for a file that
// cannot be read).
func (e *Error) Unwrap() error { return e.Err }

func errorf(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// Read returns the secret held by the environment variable env or the file
// file, which the config keys envKey and fileKey name (env or file is
// empty when its key is not set). Errors are *Error values: about the
// variable, both keys or neither key, they carry envKey; about the file,
// fileKey.
func Read(envKey, env, fileKey, file string, opt Options) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errorf(envKey, "set %s or %s, not both", envKey, fileKey)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", errorf(envKey, "environment variable %s is not set", env)
		}
		if opt.Trim == TrimSpace {
			v = strings.TrimSpace(v)
		}
		if v == "" {
			return "", errorf(envKey, "environment variable %s is empty", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			// The *os.PathError names the file only.
			return "", &Error{Key: fileKey, Err: err}
		}
		v := string(b)
		if opt.Trim == TrimSpace {
			v = strings.TrimSpace(v)
		} else {
			v = strings.TrimRight(v, "\r\n")
		}
		if v == "" {
			return "", errorf(fileKey, "file %s is empty", file)
		}
		return v, nil
	case opt.Optional:
		return "", nil
	case opt.Missing != "":
		return "", &Error{Key: envKey, Err: errors.New(opt.Missing)}
	}
	return "", errorf(envKey, "set %s or %s: secrets are never written in the config", envKey, fileKey)
}
