package connectortest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors/dbproc"
)

// dbServer is what the kit keeps of a database server: the admin pool and,
// for a private server, the process.
type dbServer struct {
	admin *sql.DB                   // for CREATE/DROP DATABASE
	proc  interface{ Stop() error } // set only for a private server
}

// connectAdmin waits with wait until the server of dsn answers and opens
// the admin pool through driver.
func (s *dbServer) connectAdmin(driver, dsn string, wait func(context.Context, string, time.Duration) error) error {
	if err := wait(context.Background(), dsn, startTimeout); err != nil {
		return err
	}
	admin, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	admin.SetMaxOpenConns(4)
	s.admin = admin
	return nil
}

// close closes the admin pool and stops a private server.
func (s *dbServer) close() error {
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.proc != nil {
		errs = append(errs, s.proc.Stop())
	}
	return errors.Join(errs...)
}

// lazyServer is the one server of a kind in a test binary, started on first
// use: external when the environment variable env holds a DSN, else
// private.
type lazyServer[S interface{ close() error }] struct {
	name     string // as the caller names it, for errors: "MariaDB"
	env      string
	external func(dsn string) (S, error)
	private  func() (S, error)

	once sync.Once
	err  error
	mu   sync.Mutex // guards srv and live during stop
	srv  S
	live bool
}

// get starts the server on first use.
func (l *lazyServer[S]) get() (S, error) {
	l.once.Do(func() {
		var s S
		if dsn := os.Getenv(l.env); dsn != "" {
			s, l.err = l.external(dsn)
		} else {
			s, l.err = l.private()
		}
		l.mu.Lock()
		l.srv, l.live = s, l.err == nil
		l.mu.Unlock()
	})
	var zero S
	if l.err != nil {
		return zero, l.err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.live {
		return zero, fmt.Errorf("server already stopped (%s called after TestMain returned)", l.name)
	}
	return l.srv, nil
}

// stop closes a server that was started.
func (l *lazyServer[S]) stop() error {
	l.mu.Lock()
	s, live := l.srv, l.live
	var zero S
	l.srv, l.live = zero, false
	l.mu.Unlock()
	if !live {
		return nil
	}
	return s.close()
}

// freshDatabase creates a database with create on admin, opens dsn, the
// DSN of that database, through driver, and has t.Cleanup close it and
// drop the database with drop.
func freshDatabase(t testing.TB, admin *sql.DB, name, create, drop, driver, dsn string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
	defer cancel()
	if _, err := admin.ExecContext(ctx, create); err != nil {
		t.Fatalf("connectortest: create database %s: %v", name, err)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("connectortest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), ddlTimeout)
		defer cancel()
		if _, err := admin.ExecContext(ctx, drop); err != nil {
			t.Errorf("connectortest: drop database %s: %v", name, err)
		}
	})
	return db
}

// privateDir makes a new temporary directory for a private server, after
// removing those that dead test binaries left with the same prefix.
func privateDir(prefix string) (string, error) {
	dbproc.SweepTemp(prefix)
	return dbproc.MkdirTemp(prefix)
}
