// Package mariadbproc starts and stops a private MariaDB server process for
// tests and benchmarks: one mariadbd with its data directory in a directory
// the caller names, listening on a free 127.0.0.1 port, with the account
// root and an empty password.
//
// Start finds mariadbd (or mysqld) and mariadb-install-db (or
// mysql_install_db) in PATH and the sbin directories a non-root PATH lacks,
// initialises the data directory, launches the server and waits until it
// accepts connections. On Linux the server gets a parent-death signal, so it
// dies with the process that started it even when that process cannot clean
// up (a panic, a test -timeout, a SIGKILL). Stop shuts it down, SIGTERM
// first and SIGKILL after Options.StopTimeout, and removes the directory
// only when Options.RemoveDir asks it to.
//
// The server's defaults trade durability for speed (no binary log, the redo
// log flushed once a second, no doublewrite buffer) and nothing guards the
// root account: it is never for production data. Callers tune it with
// Options.ExtraArgs, which come after the defaults on mariadbd's command line
// and so override them.
//
// The package is used by the connectortest kit (one server per test binary)
// and by the `hpgate bench` command. MkdirTemp and SweepTemp give callers
// temporary directories that a later run removes when the process that made
// them died without cleaning up.
package mariadbproc
