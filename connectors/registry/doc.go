// Package registry is hpgate's source for the national poverty registry
// (国扶 / 防返贫监测 system), reached over HTTP through a provincial exchange
// platform or an adapter (`driver: registry`). It implements
// connectors.Source on github.com/hashicorp/go-retryablehttp. It keeps no
// position (the pipeline owns positions and passes them in) and does not
// import the pipeline. The HTTP contract is ours: openapi.yaml (embedded as
// OpenAPI), served by the simulator in registrysim, which the tests and
// `hpgate demo` run.
//
// # Keyset reads
//
// A mapping names a resource (`table: persons`) and the contract's cursor,
// `timestamp: updated_at` and `keys: [id]`. A position holds the last
// record's (updated_at, id), updated_at as the server wrote it; a Read asks
// for the records strictly after it (updated_after, after_id: updated_at >
// t OR (updated_at = t AND id > i)) and keeps paging, by the server's
// next_cursor or by page number, until its limit. Because every request is
// anchored on a record and not on an offset, a record that changes between
// two pages moves behind the reader instead of shifting the rest; in page
// mode, where numbers do shift, the window is bounded by updated_until and
// the reader starts again from its last record when meta.total changes.
// Each page echoes the request it answers; a page that answers another
// request (duplicated or reordered by a proxy, a cache or a faulty server)
// is asked for again, and records at or before the reader's position are
// dropped, so neither loses nor repeats anything.
//
// # Settle delay
//
// Only records with updated_at at or before the server's clock minus the
// settle delay (default 5s) are taken: a record committed late with an
// earlier updated_at is still read as long as it commits within the delay.
// The server's clock is meta.server_time of each page (else its Date
// header), never hpgate's.
//
// # Clock corrections (look-back)
//
// The keyset assumes updated_at never goes back. When the registry's
// clock is corrected backwards, a record changed after the correction gets
// an updated_at before positions already reached, and no keyset read after
// them sees it: the change is lost, silently. The cure is to look back:
// once a Read has caught up, and at most every LookBack/2 by the server's
// clock, the source re-reads the window of LookBack before its position
// (the re-read is part of the position, "hw_ts"/"hw_id" being where it
// returns), then carries on from where it was. A change stamped up to
// LookBack/2 in the past is therefore read by the next re-read, whatever
// the timing of the polls. Re-read records are sent again, unchanged ones
// with the same id and hash: delivery is at-least-once and consumers drop
// repeats by (id, hash), as design.md requires of every source; no record
// is delivered that was not in the registry. The cost is one pass over the
// last LookBack of changes every LookBack/2 while caught up. Snapshot mode
// (a full resync, id order, change detection by the pipeline) needs no
// look-back and catches every correction.
//
// # Requests
//
// Every HTTP attempt is signed afresh (sign.go: app key, Unix timestamp,
// random nonce, and an HMAC-SHA256 or HMAC-SM3 over a canonical string of
// the method, path, sorted query, key, timestamp, nonce and body hash),
// waits for the source's request rate limit, and is bounded by the request
// timeout. 5xx, 429, timeouts and lost connections are retried by
// retryablehttp with exponential backoff and jitter, a Retry-After being
// honoured; pages that are truncated, invalid or answer another request are
// retried here with the same backoff. When the retries run out, Read
// returns an error wrapping connectors.ErrUnavailable that names the
// request path and page, never its query (which holds cursor values) nor
// a record value; the pipeline backs off and reads again. A 4xx (a refused
// signature) is not transient.
//
// # Values
//
// Records are flattened: a nested object's fields are named by their
// dotted path (household.id, flags.deceased), arrays keep their JSON text,
// numbers are json.Number (their exact text), and strings, booleans and
// nulls stay as they are. Batch.Columns are the stream's declared columns
// (plus the cursor's) when it has any, else the union of the records'.
package registry
