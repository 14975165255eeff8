package connectortest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/hpgate/hpgate/connectors/mariadbproc"
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
	base  string  // DSN of the admin database
	admin *sql.DB // for CREATE/DROP DATABASE

	proc *pgproc.Server // set only for a private server
}

var (
	pgOnce sync.Once
	pg     *pgServer
	pgErr  error
	pgMu   sync.Mutex // guards pg during stop
)

// Postgres returns a fresh, empty database on the test binary's PostgreSQL
// server, as an open *sql.DB (driver "pgx") and its pgx DSN. The database is
// dropped and db closed by t.Cleanup. The first call starts the server,
// which takes a second or two; later calls take milliseconds.
//
// Postgres calls t.Fatal when no server can be had, naming the install
// command when PostgreSQL is missing.
func Postgres(t testing.TB) (db *sql.DB, dsn string) {
	t.Helper()
	s, err := postgresServer()
	if err != nil {
		t.Fatalf("connectortest: Postgres: %v", err)
	}
	name := pgDatabaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" ENCODING 'UTF8' TEMPLATE template0"); err != nil {
		t.Fatalf("connectortest: create database %s: %v", name, err)
	}
	dsn, err = withDatabase(s.base, name)
	if err != nil {
		t.Fatalf("connectortest: %v", err)
	}
	db, err = sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("connectortest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
		defer cancel()
		// FORCE: a connection the test leaked must not fail the drop.
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("connectortest: drop database %s: %v", name, err)
		}
	})
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

// postgresServer starts the binary's server on first use.
func postgresServer() (*pgServer, error) {
	pgOnce.Do(func() {
		var s *pgServer
		if dsn := os.Getenv(EnvPostgresDSN); dsn != "" {
			s, pgErr = externalPostgres(dsn)
		} else {
			s, pgErr = startPrivatePostgres()
		}
		pgMu.Lock()
		pg = s
		pgMu.Unlock()
	})
	if pgErr != nil {
		return nil, pgErr
	}
	pgMu.Lock()
	defer pgMu.Unlock()
	if pg == nil {
		return nil, errors.New("server already stopped (Postgres called after TestMain returned)")
	}
	return pg, nil
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
	if err := pgproc.WaitReady(context.Background(), s.base, startTimeout); err != nil {
		return err
	}
	admin, err := sql.Open("pgx", s.base)
	if err != nil {
		return err
	}
	admin.SetMaxOpenConns(4)
	s.admin = admin
	return nil
}

// startPrivatePostgres starts postgres in a new temporary directory, which
// stopPostgres removes, after removing those of dead test binaries.
func startPrivatePostgres() (*pgServer, error) {
	mariadbproc.SweepTemp(pgTempDirPrefix)
	dir, err := mariadbproc.MkdirTemp(pgTempDirPrefix)
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
	s := &pgServer{base: proc.DSN("postgres"), proc: proc}
	if err := s.connectAdmin(); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return s, nil
}

// stopPostgres closes the admin pool and stops and removes a private server.
func stopPostgres() error {
	pgMu.Lock()
	s := pg
	pg = nil
	pgMu.Unlock()
	if s == nil {
		return nil
	}
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.proc != nil {
		errs = append(errs, s.proc.Stop())
	}
	return errors.Join(errs...)
}
