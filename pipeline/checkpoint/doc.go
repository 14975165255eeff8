// Package checkpoint is hpgate's local state store: one bbolt file,
// state.db, in the state directory, owned by one process at a time.
//
// It keeps, per mapping name, the checkpoint the pipeline commits after
// the sink acknowledged a batch (fsynced before Commit returns), with the
// fingerprint of what the position means stored beside it; the change
// detection state of snapshot-mode mappings (Snapshot); and small buckets
// for other state (Bucket).
//
// Positions may hold personal data (a key column that is an ID number):
// they are stored encrypted with AES-256-GCM under a key derived from the
// deployment key, each value with a random nonce and the id of the key
// that sealed it, and are never listed. What `checkpoint list` shows is
// the Display form the caller provides.
//
// The package knows nothing of sources, mappings or Kafka; the pipeline
// decides when to commit.
package checkpoint
