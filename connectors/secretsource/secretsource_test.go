package secretsource_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/connectors/secretsource"
)

// The values the tests put in variables and files; none may appear in an
// error.
const (
	envValue  = "  env s3cret\t"
	fileValue = " file s3cret \r\n"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := write("secret", fileValue)
	twoLines := write("two-lines", "s3cret\n\n")
	blank := write("blank", " \r\n\t\n")
	empty := write("empty", "")
	newlines := write("newlines", "\r\n")
	missing := filepath.Join(dir, "missing")
	t.Setenv("HPGATE_TEST_SECRET", envValue)
	t.Setenv("HPGATE_TEST_SECRET_EMPTY", "")
	t.Setenv("HPGATE_TEST_SECRET_BLANK", " \t ")
	if err := os.Unsetenv("HPGATE_TEST_SECRET_UNSET"); err != nil {
		t.Fatal(err)
	}

	space := secretsource.Options{}
	newline := secretsource.Options{Trim: secretsource.TrimNewline}
	tests := []struct {
		name      string
		env, file string
		opt       secretsource.Options
		want      string
		wantKey   string // the *Error's key, when an error is wanted
		wantErr   string
	}{
		{name: "env trimmed", env: "HPGATE_TEST_SECRET", opt: space, want: "env s3cret"},
		{name: "env kept as it is", env: "HPGATE_TEST_SECRET", opt: newline, want: envValue},
		{name: "file trimmed", file: file, opt: space, want: "file s3cret"},
		{name: "file less its line end", file: file, opt: newline, want: " file s3cret "},
		{name: "file less all trailing line ends", file: twoLines, opt: newline, want: "s3cret"},
		{name: "both", env: "HPGATE_TEST_SECRET", file: file, opt: space,
			wantKey: "x_env", wantErr: "x_env: set x_env or x_file, not both"},
		{name: "neither", opt: space,
			wantKey: "x_env", wantErr: "x_env: set x_env or x_file: secrets are never written in the config"},
		{name: "neither, caller's message", opt: secretsource.Options{Missing: "no key: set x_env or x_file"},
			wantKey: "x_env", wantErr: "x_env: no key: set x_env or x_file"},
		{name: "neither, optional", opt: secretsource.Options{Optional: true}, want: ""},
		{name: "unset env", env: "HPGATE_TEST_SECRET_UNSET", opt: newline,
			wantKey: "x_env", wantErr: "x_env: environment variable HPGATE_TEST_SECRET_UNSET is not set"},
		{name: "empty env", env: "HPGATE_TEST_SECRET_EMPTY", opt: newline,
			wantKey: "x_env", wantErr: "x_env: environment variable HPGATE_TEST_SECRET_EMPTY is empty"},
		{name: "blank env trimmed", env: "HPGATE_TEST_SECRET_BLANK", opt: space,
			wantKey: "x_env", wantErr: "x_env: environment variable HPGATE_TEST_SECRET_BLANK is empty"},
		{name: "blank env kept for a password", env: "HPGATE_TEST_SECRET_BLANK", opt: newline, want: " \t "},
		{name: "empty file", file: empty, opt: newline,
			wantKey: "x_file", wantErr: "x_file: file " + empty + " is empty"},
		{name: "file of line ends", file: newlines, opt: newline,
			wantKey: "x_file", wantErr: "x_file: file " + newlines + " is empty"},
		{name: "blank file trimmed", file: blank, opt: space,
			wantKey: "x_file", wantErr: "x_file: file " + blank + " is empty"},
		{name: "missing file", file: missing, opt: space,
			wantKey: "x_file", wantErr: "x_file: open " + missing + ": no such file or directory"},
		// A path that exists but cannot be read as a file (root reads
		// any mode, so the test does not rely on permissions).
		{name: "unreadable file", file: dir, opt: space,
			wantKey: "x_file", wantErr: "x_file: read " + dir + ": is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secretsource.Read("x_env", tc.env, "x_file", tc.file, tc.opt)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Fatalf("Read = %q, want %q", got, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read = %q, want error %q", got, tc.wantErr)
			}
			if got != "" {
				t.Errorf("Read returned %q with its error", got)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("error %q, want %q", err, tc.wantErr)
			}
			var se *secretsource.Error
			if !errors.As(err, &se) || se.Key != tc.wantKey {
				t.Errorf("error %#v is not an *Error of key %s", err, tc.wantKey)
			}
			assertNoSecret(t, err)
		})
	}
}

func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	for _, v := range []string{envValue, fileValue, "s3cret"} {
		if strings.Contains(err.Error(), strings.TrimSpace(v)) {
			t.Errorf("error %q shows the secret", err)
		}
	}
}
