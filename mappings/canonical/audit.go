package canonical

// AuditSchema is the schema name of an [Audit] value.
const AuditSchema = "hp.audit/v1"

// Audit actions: what was done to the set of mappings or to their data.
const (
	AuditStart           = "start"
	AuditReload          = "reload"
	AuditCheckpointReset = "checkpoint_reset"
	AuditCheckpointSet   = "checkpoint_set"
	AuditRedrive         = "redrive"
	AuditReplay          = "replay"
)

// Audit is one entry of a deployment's audit trail of changes, also the
// value of a message on <prefix>audit.v1: who loaded which mapping set (or
// acted on a mapping's data), when, and with what result. Entries form a
// hash chain: Hash covers the entry (without Hash) and Prev, the previous
// entry's Hash, so an edited or removed entry breaks every hash after it.
// No field holds personal data.
type Audit struct {
	Schema   string            `json:"schema,omitempty" hp:"enum,required,enum=hp.audit/v1" doc:"Always hp.audit/v1"`
	Seq      *int              `json:"seq,omitempty" hp:"int,required,min=1" doc:"Position of the entry in the trail of its state directory, from 1"`
	At       string            `json:"at,omitempty" hp:"datetime,required" doc:"When the action was recorded"`
	Operator string            `json:"operator,omitempty" hp:"string,required" doc:"Who acted: HPGATE_OPERATOR, --operator or the OS user"`
	Host     string            `json:"host,omitempty" hp:"string" doc:"Host name of the process that recorded the entry"`
	Action   string            `json:"action,omitempty" hp:"enum,required,enum=start|reload|checkpoint_reset|checkpoint_set|redrive|replay" doc:"What was done"`
	Mapping  string            `json:"mapping,omitempty" hp:"string" doc:"The mapping acted on, for actions on one mapping"`
	Result   string            `json:"result,omitempty" hp:"enum,required,enum=ok|failed" doc:"ok, or failed (detail says why)"`
	Detail   string            `json:"detail,omitempty" hp:"string" doc:"What happened, without personal data: counts, range, error"`
	Config   string            `json:"config,omitempty" hp:"string,pattern=^sha256:[0-9a-f]{64}$" doc:"SHA-256 of the config file as read"`
	Mappings map[string]string `json:"mappings,omitempty" hp:"object" doc:"Each mapping in force after the action: name to the SHA-256 of its file (sha256:…)"`
	Added    []string          `json:"added,omitempty" hp:"strings" doc:"Mappings added since the previous entry that listed mappings"`
	Removed  []string          `json:"removed,omitempty" hp:"strings" doc:"Mappings removed since then"`
	Changed  []string          `json:"changed,omitempty" hp:"strings" doc:"Mappings whose file content changed since then"`
	Prev     string            `json:"prev,omitempty" hp:"string,pattern=^sha256:[0-9a-f]{64}$" doc:"Hash of the previous entry; absent for the first"`
	Hash     string            `json:"hash,omitempty" hp:"string,required,pattern=^sha256:[0-9a-f]{64}$" doc:"SHA-256 over this entry without hash (canonical JSON), chaining prev"`
}
