// Package connectortest is a test kit for hpgate's connectors, in the spirit
// of net/http/httptest: it brings up real parts for a test and tears them
// down again. It is imported only from _test.go files.
//
// # MariaDB
//
// MariaDB hands each test a fresh, uniquely named database on a private
// mariadbd that the test binary starts on first use (once per binary, on a
// free 127.0.0.1 port with a temporary data directory) and stops when its
// TestMain returns. Set HPGATE_TEST_MYSQL_DSN to use an existing server
// instead; the account needs CREATE and DROP DATABASE. A test binary that
// uses MariaDB must route its TestMain through RunMain or WrapMain so the
// server is stopped:
//
//	func TestMain(m *testing.M) {
//		goleak.VerifyTestMain(connectortest.WrapMain(m))
//	}
//
// When mariadbd is not installed, MariaDB fails the test and names the
// install command: the project's test script installs it, and a skipped
// database test would hide a regression.
//
// # PostgreSQL
//
// Postgres does the same on a private postgres (package pgproc: initdb
// into a temporary directory, a free 127.0.0.1 port, trust authentication,
// run as the postgres user when the tests run as root), started on first
// use and stopped by RunMain or WrapMain. Set HPGATE_TEST_POSTGRES_DSN to
// use an existing server instead; its user needs CREATEDB. When PostgreSQL
// is not installed, Postgres fails the test and names the install command.
//
// # Kafka
//
// Broker starts an in-process Kafka-protocol cluster (kfake) that real
// clients reach over TCP, and ReadAll consumes a topic with franz-go's kgo
// client, so end-to-end tests read back exactly what a consumer would see.
//
// # Conformance
//
// SourceSuite runs the cases every SQL source driver must pass (resume,
// equal timestamps across a page boundary, rows committed late inside the
// settle delay, empty batches, cancellation, outages, composite keys,
// snapshot paging, bytes kept intact) against one driver described by a
// SourceHarness.
//
// The kit keeps per-binary state (the one MariaDB and PostgreSQL servers) in package
// variables; that is its job, as it is httptest's. Nothing else may.
package connectortest
