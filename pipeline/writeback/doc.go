// Package writeback copies identity flags from the system whose word
// counts (design.md, "Whose word counts") into the tables of the other
// systems: `hpgate writeback` consumes <prefix>identity.v1 in a consumer
// group and applies each person's view to every writeback file of the
// person's county.
//
// # Writeback files
//
// A writeback file sits with the mapping files and starts with
// `kind: writeback` (the mapping engine skips it):
//
//	kind: writeback
//	name: jimo-ins-identity-flags     # unique; labels metrics and DLQ records
//	county: "370282"
//	system: insurance                 # the system whose table is written
//	target: jimo-ins                  # a source instance of the config (driver, DSN)
//	table: YB_CBRY
//	key: GRBH                         # unique row key column
//	find:
//	  records: [person, enrollment]   # the target's own record keys in the identity view
//	  id_card: SFZH                   # blind index on the ID-number column …
//	  timestamp: GXSJ                 # … kept current by keyset reads on this column
//	columns:
//	  PKRKBZ:
//	    fact: poverty_status          # see facts below
//	    values: {registered: "1", pre_exit: "1", returned: "1", exited: "0", monitored: "0", none: "0"}
//	    default: "0"                  # optional: for values not listed (else the record is dead-lettered)
//	audit: table                      # table (hpgate_writeback_audit in the target) | local
//	rows_per_second: 20               # cap on changes per second (default: the config's writeback.rows_per_second, else 20)
//
// Facts and their default authority: poverty_status, poverty_cause,
// exit_year, deceased, min_living, destitute_support, disabled (registry);
// poverty_mark, policy_level, premium_subsidised (insurance). The identity
// view's authorities override the defaults per county; a file that writes
// a fact into the system that is its default authority is refused at load,
// and a column whose authority (per the view) is the target itself is
// skipped. Boolean facts take the values "true" and "false".
//
// # Finding the row
//
// First the target system's own records of the listed entities in the
// identity view (their source ids are row keys), kept when the row exists;
// else the blind index: a local bbolt store (writeback.db in the state
// directory) from the HMAC of the target's normalised ID number, under the
// deployment key (the person key's HMAC), to the row key, sealed. It is
// built at start by reading the table (sqlsource keyset reads on
// timestamp, key), kept current incrementally, refreshed once on a miss,
// and every hit is checked against the row's own ID number, so a stale
// entry never changes another person's row.
//
// # Changes
//
// The row's columns are read and compared with the authority's values;
// only differing columns are set, by a conditional statement from package
// sqlwrite (UPDATE … WHERE the value differs, MERGE on Oracle and SQL
// Server), in one transaction with its audit rows. Replays change nothing.
// Records that cannot be applied go to <prefix>dlq.v1 (codes not_found,
// unmapped_value, target_error, bad_record), keyed by person key, with the
// identity record sealed. Transient target faults are retried with backoff
// without committing the record's offset.
package writeback
