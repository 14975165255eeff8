// Package pgproc starts and stops a private PostgreSQL server process for
// tests: one postgres with its data directory in a directory the caller
// names, listening on a free 127.0.0.1 port (and on a unix socket in that
// directory, never in /var/run/postgresql), with the superuser postgres and
// trust authentication.
//
// Start finds initdb and postgres in PATH, then in the newest
// /usr/lib/postgresql/VERSION/bin (where Debian installs them, outside
// PATH), initialises the data directory with initdb and launches the server
// directly (not through pg_ctl, so the server stays this process's child)
// and waits until it accepts connections. PostgreSQL refuses to run as
// root: when the caller is root, initdb and the server run as the system
// user postgres (which Debian's postgresql package creates), Options.Dir is
// handed to that user, and the directories above it must let that user
// pass. On Linux the server gets a parent-death signal, so it dies with the
// process that started it even when that process cannot clean up (a panic,
// a test -timeout, a SIGKILL). Stop shuts it down, a fast shutdown (SIGINT)
// first and SIGKILL after Options.StopTimeout, and removes the directory
// only when Options.RemoveDir asks it to.
//
// The server's defaults trade durability for speed (fsync, synchronous
// commit and full-page writes off) and nothing guards the superuser: it is
// never for production data. Callers tune it with Options.ExtraArgs, extra
// postgres flags such as "-c", "max_connections=200", which come after the
// defaults and so override them.
//
// The package is used by the connectortest kit (one server per test binary).
package pgproc
