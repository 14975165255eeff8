package canonical

// Origin says where a canonical record comes from. Every entity embeds it,
// directly or through [Subject], so its fields sit at the top level of the
// record's JSON.
type Origin struct {
	County       string `json:"county,omitempty" hp:"code,required,pattern=^[0-9]{6}$" doc:"County administrative code the record belongs to (GB/T 2260, 6 digits)"`
	SourceSystem string `json:"source_system,omitempty" hp:"enum,required,enum=his|public_health|insurance|registry|hpgate" doc:"System whose view of the facts this record is; hpgate for derived records"`
	SourceID     string `json:"source_id,omitempty" hp:"string,required" doc:"Key of the record in its source system (its HMAC where the key would hold an ID number)"`
	UpdatedAt    string `json:"updated_at,omitempty" hp:"datetime" doc:"When the source system last changed the record (RFC 3339 with offset)"`
}

// Subject identifies the person a record is about. Every entity but
// [Household] embeds it; person_key is the Kafka message key.
type Subject struct {
	Origin
	PersonKey string `json:"person_key,omitempty" hp:"string,required,pattern=^[a-z0-9]+:[0-9a-f]{64}$" doc:"Person key: <key id>:<hex HMAC-SHA256> of the normalised ID number (or of the fallback identity)"`
	IDMasked  string `json:"id_masked,omitempty" hp:"string,pii,pattern=^[0-9]{6}\\*{8}[0-9]{3}[0-9X]$" doc:"ID number (GB 11643) with only its first 6 and last 4 characters kept (370282********123X)"`
	IDQuality string `json:"id_quality,omitempty" hp:"enum,required,enum=valid|upgraded_15|fallback" doc:"How the person key was derived: a valid 18-digit ID, a 15-digit legacy ID upgraded, or a fallback identity (for review)"`
}

// Patterns that the schema fixes and that other packages produce. A test
// checks them against the struct tags above, which are the source of truth.
const (
	// PersonKeyPattern is the form of person_key, household_key and the
	// Kafka key of person records.
	PersonKeyPattern = `^[a-z0-9]+:[0-9a-f]{64}$`
	// CountyPattern is the form of a county code (GB/T 2260).
	CountyPattern = `^[0-9]{6}$`
	// IDMaskedPattern is the form of id_masked.
	IDMaskedPattern = `^[0-9]{6}\*{8}[0-9]{3}[0-9X]$`
	// MoneyPattern is the form of every money field: yuan with exactly two
	// decimals, as a JSON string.
	MoneyPattern = `^-?[0-9]+\.[0-9]{2}$`
	// ICD10Pattern is the form of a diagnosis code (ICD-10 category with an
	// optional subcategory).
	ICD10Pattern = `^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$`
)
