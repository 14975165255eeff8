package sqlsource

import (
	"strings"
	"testing"
	"time"
)

func TestPostgresZone(t *testing.T) {
	for _, tc := range []struct {
		off  int
		want string
	}{
		{8 * 3600, "<+08>-08"},
		{-(5*3600 + 30*60), "<-0530>+05:30"},
		{0, "<+00>-00"},
	} {
		if got := postgresZone(time.FixedZone("", tc.off)); got != tc.want {
			t.Errorf("offset %d: got %s, want %s", tc.off, got, tc.want)
		}
	}
}

func TestPostgresOpen(t *testing.T) {
	zone := time.FixedZone("", 8*3600)
	db, err := postgresDialect{}.open("postgres://u:secret@db.invalid:5432/his?TimeZone=UTC", zone)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_, err = postgresDialect{}.open("postgres://u:hunter2@db:notaport/his", zone)
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "db:notaport") {
		t.Errorf("malformed DSN: got %v, want an error that does not quote the DSN", err)
	}
}

func TestPostgresTransient(t *testing.T) {
	for code, want := range map[string]bool{"08006": true, "53300": true, "57P01": true, "40P01": true, "42P01": false, "28P01": false, "3D000": false} {
		if got := postgresTransientError(code); got != want {
			t.Errorf("%s: got %v, want %v", code, got, want)
		}
	}
}
