package kafkasink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestSecretNeverPrints(t *testing.T) {
	const clear = "s3cret-pa55"
	s := newSecret(clear)
	holder := struct {
		Name string
		pass secret
		Pass secret
	}{"x", s, s}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("secret", "pass", s, "holder", holder)
	js, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s),
		fmt.Sprintf("%v", holder), fmt.Sprintf("%+v", holder), fmt.Sprintf("%#v", holder),
		fmt.Sprintf("%v", &holder), logs.String(), string(js),
		fmt.Sprintf("%+v", plainMechanism{user: "u", pass: s}),
		fmt.Sprintf("%+v", newScram(scramSHA256, "u", s)),
	}
	for _, out := range outs {
		if strings.Contains(out, clear) {
			t.Errorf("secret printed in clear: %s", out)
		}
	}
	if s.reveal() != clear {
		t.Fatalf("reveal = %q", s.reveal())
	}
}

func TestResolvePassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tab := filepath.Join(dir, "tab")
	if err := os.WriteFile(tab, []byte("from\tfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HPGATE_TEST_KAFKA_PW", "from-env")
	t.Setenv("HPGATE_TEST_KAFKA_EMPTY", "")

	tests := []struct {
		name    string
		cfg     SASLConfig
		want    string
		wantErr string
	}{
		{name: "env", cfg: SASLConfig{PasswordEnv: "HPGATE_TEST_KAFKA_PW"}, want: "from-env"},
		{name: "file without final newline", cfg: SASLConfig{PasswordFile: file}, want: "from-file"},
		{name: "unset env", cfg: SASLConfig{PasswordEnv: "HPGATE_TEST_KAFKA_UNSET"}, wantErr: "HPGATE_TEST_KAFKA_UNSET is not set"},
		{name: "empty env", cfg: SASLConfig{PasswordEnv: "HPGATE_TEST_KAFKA_EMPTY"}, wantErr: "sasl.password_env: environment variable HPGATE_TEST_KAFKA_EMPTY is empty"},
		{name: "both", cfg: SASLConfig{PasswordEnv: "HPGATE_TEST_KAFKA_PW", PasswordFile: file}, wantErr: "not both"},
		{name: "control character", cfg: SASLConfig{PasswordFile: tab}, wantErr: "control character"},
		{name: "missing file", cfg: SASLConfig{PasswordFile: filepath.Join(dir, "nope")}, wantErr: "sasl.password_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolvePassword(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "from") {
					t.Fatalf("err %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.reveal() != tc.want {
				t.Fatalf("password = %q, want %q", got.reveal(), tc.want)
			}
		})
	}
}

// TestScramRFC7677 replays the SCRAM-SHA-256 exchange of RFC 7677 section 3.
func TestScramRFC7677(t *testing.T) {
	m := newScram(scramSHA256, "user", newSecret("pencil"))
	m.nonce = func() (string, error) { return "rOprNGfwEbeRWgbNEkqO", nil }
	ctx := context.Background()

	sess, first, err := m.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(first), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"; got != want {
		t.Fatalf("client-first = %q, want %q", got, want)
	}
	done, final, err := sess.Next(ctx, []byte("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
	if err != nil || done {
		t.Fatalf("Next = %v, %v", done, err)
	}
	want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	if string(final) != want {
		t.Fatalf("client-final = %q, want %q", final, want)
	}
	done, _, err = sess.Next(ctx, []byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
	if err != nil || !done {
		t.Fatalf("server-final: done %v, err %v", done, err)
	}
}

func TestScramRefusesBadServer(t *testing.T) {
	tests := []struct {
		name, serverFirst, serverFinal, wantErr string
	}{
		{name: "nonce not extended", serverFirst: "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", wantErr: "nonce"},
		{name: "too few iterations", serverFirst: "r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", wantErr: "iterations"},
		{name: "bad salt", serverFirst: "r=abcXYZ,s=***,i=4096", wantErr: "salt"},
		{name: "wrong server signature", serverFirst: "r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", serverFinal: "v=AAAA", wantErr: "signature"},
		{name: "server error", serverFirst: "r=abcXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", serverFinal: "e=invalid-proof", wantErr: "invalid-proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newScram(scramSHA512, "user", newSecret("pencil"))
			m.nonce = func() (string, error) { return "abc", nil }
			sess, _, err := m.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = sess.Next(context.Background(), []byte(tc.serverFirst))
			if err == nil && tc.serverFinal != "" {
				_, _, err = sess.Next(context.Background(), []byte(tc.serverFinal))
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errSCRAM) {
				t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
			}
			if transient(err) {
				t.Fatal("an authentication failure must not be transient")
			}
		})
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "connection refused", err: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, want: true},
		{name: "reset", err: fmt.Errorf("read: %w", syscall.ECONNRESET), want: true},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF, want: true},
		{name: "deadline", err: context.DeadlineExceeded, want: true},
		{name: "broker not available", err: kafka.BrokerNotAvailable, want: true},
		{name: "leader not available", err: kafka.LeaderNotAvailable, want: true},
		{name: "not leader", err: kafka.NotLeaderForPartition, want: true},
		{name: "request timed out", err: fmt.Errorf("x: %w", kafka.RequestTimedOut), want: true},
		{name: "not enough replicas", err: kafka.NotEnoughReplicas, want: true},
		{name: "canceled", err: context.Canceled, want: false},
		{name: "message too large", err: kafka.MessageSizeTooLarge, want: false},
		{name: "authorization", err: kafka.TopicAuthorizationFailed, want: false},
		{name: "sasl failed", err: kafka.SASLAuthenticationFailed, want: false},
		{name: "scram", err: fmt.Errorf("%w: x", errSCRAM), want: false},
		{name: "plain error", err: errors.New("boom"), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := transient(tc.err); got != tc.want {
				t.Fatalf("transient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
