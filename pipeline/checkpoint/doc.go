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
// they are stored encrypted with pii's sealing under keys derived from the
// deployment key, with the configured cipher (pii.cipher: AES-256-GCM or
// SM4-GCM) and KDF (pii.kdf), each value with a random nonce, the marker
// of its cipher and the id of the key that sealed it, and are never
// listed. Values sealed under either cipher open, so a switch of pii.cipher
// keeps existing checkpoints; values from before the option are AES. What `checkpoint list` shows is
// the Display form the caller provides.
//
// The package knows nothing of sources, mappings or Kafka; the pipeline
// decides when to commit.
package checkpoint
