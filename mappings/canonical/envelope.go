package canonical

import "encoding/json"

// Values of [Envelope.Op].
const (
	// OpUpsert creates or replaces the record named by the envelope's id.
	OpUpsert = "upsert"
	// OpDelete removes it: the row left a snapshot, or the mapping marks it
	// voided. Its data carries at least the record's identifying fields.
	OpDelete = "delete"
)

// DLQSchema is the schema name of a [DLQ] value.
const DLQSchema = "hp.dlq/v1"

// Envelope is the value of every message on a canonical topic (design.md,
// Contract 4). Data holds the entity record as JSON; its schema is named by
// Schema ("hp.settlement/v1").
//
// For op delete, data must carry the origin fields and the record's key
// (person_key, or household_key for a household) and may omit the entity's
// other required fields; every field it does carry must still be valid.
type Envelope struct {
	Schema     string          `json:"schema,omitempty" hp:"string,required,pattern=^hp\\.[a-z_]+/v1$" doc:"Schema of data, hp.<entity>/v1"`
	ID         string          `json:"id,omitempty" hp:"string,required,pattern=^[a-z_]+:[0-9]{6}:.+$" doc:"Stable id of the source record: <system>:<county>:<source key>"`
	Op         string          `json:"op,omitempty" hp:"enum,required,enum=upsert|delete" doc:"upsert, or delete for a row gone from a snapshot or voided"`
	County     string          `json:"county,omitempty" hp:"code,required,pattern=^[0-9]{6}$" doc:"County administrative code (GB/T 2260)"`
	Source     Source          `json:"source,omitzero" hp:"object,required" doc:"Where the record was read"`
	OccurredAt string          `json:"occurred_at,omitempty" hp:"datetime" doc:"When the source record changed, if the source says"`
	IngestedAt string          `json:"ingested_at,omitempty" hp:"datetime,required" doc:"When hpgate read the record"`
	Hash       string          `json:"hash,omitempty" hp:"string,required,pattern=^sha256:[0-9a-f]{64}$" doc:"SHA-256 over the canonical JSON of data alone (sorted keys), for dedupe by (id, hash)"`
	Data       json.RawMessage `json:"data,omitempty" hp:"object,required" doc:"The entity record"`
}

// Source says where a message's record was read: the system, the configured
// connector instance, the mapping and the position in the source. Position
// holds an HMAC wherever the real position would hold an ID number.
type Source struct {
	System    string `json:"system,omitempty" hp:"enum,required,enum=his|public_health|insurance|registry|hpgate" doc:"Source system"`
	Connector string `json:"connector,omitempty" hp:"string" doc:"Configured source instance"`
	Mapping   string `json:"mapping,omitempty" hp:"string" doc:"Mapping that produced the record"`
	Position  string `json:"position,omitempty" hp:"string" doc:"Position of the row in the source, safe to display"`
}

// DLQ is the value of a message on the dead-letter topic: a source row that
// could not be mapped, with the reason, the row masked for people to read
// and the raw row sealed so it can be re-driven once the mapping is fixed.
// Source.Position is the row's position.
type DLQ struct {
	Schema     string            `json:"schema,omitempty" hp:"enum,required,enum=hp.dlq/v1" doc:"Always hp.dlq/v1"`
	Mapping    string            `json:"mapping,omitempty" hp:"string,required" doc:"Mapping that rejected the row"`
	County     string            `json:"county,omitempty" hp:"code,required,pattern=^[0-9]{6}$" doc:"County administrative code of the mapping (GB/T 2260)"`
	Source     Source            `json:"source,omitzero" hp:"object,required" doc:"Where the row was read; position is the row's position"`
	Field      string            `json:"field,omitempty" hp:"string" doc:"Canonical field whose rule failed, if one did"`
	Code       string            `json:"code,omitempty" hp:"string,required,pattern=^[a-z][a-z0-9_]*$" doc:"Stable error code (bad_check_digit, unparseable_date, unknown_code, missing_required, expr_error ...)"`
	Message    string            `json:"message,omitempty" hp:"string,required" doc:"Error message, without personal data"`
	Row        map[string]string `json:"row,omitempty" hp:"object,pii" doc:"The source row, column to text, with personal data masked"`
	Raw        string            `json:"raw,omitempty" hp:"string,required,pattern=^[A-Za-z0-9+/]*={0,2}$" doc:"The raw row sealed with AES-256-GCM (or SM4) under the deployment key, base64"`
	KeyID      string            `json:"key_id,omitempty" hp:"string,required" doc:"Id of the key that sealed raw"`
	RejectedAt string            `json:"rejected_at,omitempty" hp:"datetime,required" doc:"When the row was rejected"`
}
