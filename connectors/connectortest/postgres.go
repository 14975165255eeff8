package connectortest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/hpgate/hpgate/connectors/pgproc"
)

// EnvPostgresDSN names the environment variable that points the kit at an
// existing PostgreSQL server instead of a private one. Its value is a pgx
// DSN (URL or keyword/value) whose user may create databases; the database
// in it is the one the kit connects to for CREATE and DROP DATABASE.
const EnvPostgresDSN = "HPGATE_TEST_POSTGRES_DSN"

// pgTempDirPrefix names the private PostgreSQL server's temporary
// directories, so that a later binary can sweep those of dead binaries.
const pgTempDirPrefix = "hpgate-postgres-"

// pgServer is the one PostgreSQL server of this test binary.
type pgServer struct {
	dbServer
	base string // DSN of the admin database
}

var pg = lazyServer[*pgServer]{
	name:     "Postgres",
	env:      EnvPostgresDSN,
	external: externalPostgres,
	private:  startPrivatePostgres,
}

// Postgres returns a fresh, empty database on the test binary's PostgreSQL
// server, as an open *sql.DB (driver "pgx") and its pgx DSN. The database is
// dropped and db closed by t.Cleanup. The first call starts the server,
// which takes a second or two; later calls take milliseconds.
//
// Postgres calls t.Fatal when no server can be had, naming the install
// command when PostgreSQL is missing.
func Postgres(t testing.TB) (db *sql.DB, dsn string) {
	t.Helper()
	s, err := pg.get()
	if err != nil {
		t.Fatalf("connectortest: Postgres: %v", err)
	}
	name := pgDatabaseName(t.Name())
	dsn, err = withDatabase(s.base, name)
	if err != nil {
		t.Fatalf("connectortest: %v", err)
	}
	id := pgx.Identifier{name}.Sanitize()
	db = freshDatabase(t, s.admin, name,
		"CREATE DATABASE "+id+" ENCODING 'UTF8' TEMPLATE template0",
		// FORCE: a connection the test leaked must not fail the drop.
		"DROP DATABASE IF EXISTS "+id+" WITH (FORCE)",
		"pgx", dsn)
	return db, dsn
}

// pgDatabaseName is databaseName cut to PostgreSQL's 63-byte identifiers.
func pgDatabaseName(test string) string {
	name := databaseName(test)
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// withDatabase returns dsn, a pgx URL or keyword/value DSN, naming database.
func withDatabase(dsn, database string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", EnvPostgresDSN, err)
		}
		u.Path = "/" + database
		u.RawPath = ""
		return u.String(), nil
	}
	// Keyword/value: the last dbname wins.
	return dsn + " dbname=" + database, nil
}

func externalPostgres(dsn string) (*pgServer, error) {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvPostgresDSN, err)
	}
	s := &pgServer{base: dsn}
	if err := s.connectAdmin(); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvPostgresDSN, err)
	}
	return s, nil
}

// connectAdmin waits until the server answers and opens the admin pool.
func (s *pgServer) connectAdmin() error {
	return s.dbServer.connectAdmin("pgx", s.base, pgproc.WaitReady)
}

// startPrivatePostgres starts postgres in a new temporary directory, which
// pg.stop removes, after removing those of dead test binaries.
func startPrivatePostgres() (*pgServer, error) {
	dir, err := privateDir(pgTempDirPrefix)
	if err != nil {
		return nil, err
	}
	// As root the server runs as the postgres user, who must enter dir
	// (os.MkdirTemp makes it 0700); pgproc hands it over.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	proc, err := pgproc.Start(context.Background(), pgproc.Options{
		Dir:          dir,
		ExtraArgs:    []string{"-c", "max_connections=300"},
		StartTimeout: startTimeout,
		StopTimeout:  stopTimeout, // the data is thrown away: a clean shutdown is a courtesy
		RemoveDir:    true,
	})
	if err != nil {
		if errors.Is(err, pgproc.ErrNotInstalled) {
			err = fmt.Errorf("%w or set %s", err, EnvPostgresDSN)
		}
		return nil, err
	}
	s := &pgServer{dbServer: dbServer{proc: proc}, base: proc.DSN("postgres")}
	if err := s.connectAdmin(); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return s, nil
}
