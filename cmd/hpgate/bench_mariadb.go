package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hpgate/hpgate/connectors/mariadbproc"
)

// benchBufferPool is the InnoDB buffer pool the bench asks for: MariaDB's
// 128 MB default does not hold a 1M-row settlement table and turns the run
// into a disk benchmark.
const benchBufferPool = 1 << 30

// benchDB is the database server of one `hpgate bench`: a private mariadbd
// on a free port in the bench directory (started by mariadbproc, as
// connectortest starts one per test binary), or a server given by
// --mysql-dsn.
type benchDB struct {
	base  *mysql.Config // account and address, DBName = the bench database
	admin *sql.DB       // the bench database, for loading and checks

	external bool // given by --mysql-dsn: the database is dropped, the server left alone

	proc *mariadbproc.Server // set only for a private server
}

// benchDBName is the database the bench creates on an external server.
func benchDBName() string { return "hpgate_bench_" + strconv.Itoa(os.Getpid()) }

// openBenchDB connects to the server of dsn and creates a fresh database
// for the bench.
func openBenchDB(ctx context.Context, dsn string) (*benchDB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("--mysql-dsn: %w", err)
	}
	cfg.DBName = ""
	cfg.ParseTime = false
	s := &benchDB{base: cfg, external: true}
	if err := s.connect(ctx, time.Minute); err != nil {
		return nil, fmt.Errorf("--mysql-dsn: %w", err)
	}
	return s, nil
}

// startBenchMariaDB initialises a data directory under dir and starts
// mariadbd on a free port. dir is left for the bench to remove or keep.
func startBenchMariaDB(ctx context.Context, dir string) (*benchDB, error) {
	proc, err := mariadbproc.Start(ctx, mariadbproc.Options{
		Dir: dir,
		// Loading speed only; reads are served from the buffer pool,
		// which growBufferPool sizes.
		ExtraArgs:    []string{"--innodb-log-file-size=512M"},
		StartTimeout: time.Minute,
		StopTimeout:  30 * time.Second,
	})
	if err != nil {
		if errors.Is(err, mariadbproc.ErrNotInstalled) {
			err = fmt.Errorf("%w or pass --mysql-dsn", err)
		}
		return nil, err
	}
	cfg, err := mysql.ParseDSN(proc.DSN(""))
	if err != nil {
		_ = proc.Stop()
		return nil, err
	}
	s := &benchDB{base: cfg, proc: proc}
	if err := s.connect(ctx, time.Minute); err != nil {
		_ = proc.Stop()
		return nil, err
	}
	return s, nil
}

// connect waits until the server answers, then creates the bench database
// and opens s.admin on it.
func (s *benchDB) connect(ctx context.Context, timeout time.Duration) error {
	cfg := s.base.Clone()
	cfg.Timeout = time.Second
	if err := mariadbproc.WaitReady(ctx, cfg.FormatDSN(), timeout); err != nil {
		return err
	}
	root, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer root.Close()
	name := benchDBName()
	if _, err := root.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	s.base.DBName = name
	db, err := sql.Open("mysql", s.dsn())
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(4)
	s.admin = db
	return nil
}

// dsn is the bench database's go-sql-driver DSN, as hpgate and the
// baseline use it.
func (s *benchDB) dsn() string {
	cfg := s.base.Clone()
	cfg.ParseTime = false
	return cfg.FormatDSN()
}

// growBufferPool sets the buffer pool to benchBufferPool and waits for the
// server to finish resizing it. It returns the size in effect.
func (s *benchDB) growBufferPool(ctx context.Context) (int64, error) {
	var size int64
	if err := s.admin.QueryRowContext(ctx, "SELECT @@GLOBAL.innodb_buffer_pool_size").Scan(&size); err != nil {
		return 0, err
	}
	if size >= benchBufferPool {
		return size, nil
	}
	if _, err := s.admin.ExecContext(ctx, "SET GLOBAL innodb_buffer_pool_size = "+strconv.Itoa(benchBufferPool)); err != nil {
		return size, fmt.Errorf("SET GLOBAL innodb_buffer_pool_size: %w", err)
	}
	// The resize runs in the background; @@innodb_buffer_pool_size
	// shows the new size once it is done.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if err := s.admin.QueryRowContext(ctx, "SELECT @@GLOBAL.innodb_buffer_pool_size").Scan(&size); err != nil {
			return 0, err
		}
		if size >= benchBufferPool {
			return size, nil
		}
		select {
		case <-ctx.Done():
			return size, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return size, errors.New("the buffer pool resize did not finish within 2 minutes")
}

// version returns the server's version string.
func (s *benchDB) version(ctx context.Context) string {
	var v string
	if err := s.admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// close drops the bench database (unless keep) and stops a private server.
func (s *benchDB) close(keep bool) error {
	var errs []error
	if s.admin != nil {
		if s.external && !keep {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+s.base.DBName+"`")
			cancel()
			errs = append(errs, err)
		}
		errs = append(errs, s.admin.Close())
	}
	if s.proc != nil {
		errs = append(errs, s.proc.Stop())
	}
	return errors.Join(errs...)
}
