package canonical

// IdentityView is derived by hpgate's identity stage (`hpgate identity`): one
// person's identity flags as every system holds them, published on
// <prefix>identity.v1 keyed by person_key. Each message carries the whole
// view (every system, current values and dated episodes), so the topic can
// be compacted to the last message per key without losing anything, and the
// view can always be rebuilt by replaying the canonical topics.
//
// The four system views hold what each system says, side by side, not a
// merged truth: authorities says, fact by fact, which system's word counts
// (design.md, "Whose word counts"); a disagreement with the authority is a
// [Discrepancy] on discrepancy.v1. Writeback copies only from the authority,
// and finds the rows to change through each system's records (its source
// ids, such as the insurance personal number or enrolment number).
//
// Episodes say over which dates a flag held a value, so a consumer can ask
// both "now" (the current fields, or episodes without to) and "as of a
// service date" D (the episode of the flag with from <= D and no to, or
// D <= to). Episodes of one flag are sorted by from and do not overlap
// within one system view.
//
// The envelope of an identity message has id hpgate:<county>:<person_key>,
// source system hpgate, and op upsert; its hash changes only when the view
// does, so a consumer can drop repeats as on every canonical topic.
type IdentityView struct {
	Subject
	HouseholdKey string            `json:"household_key,omitempty" hp:"string,pattern=^[a-z0-9]+:[0-9a-f]{64}$" doc:"Household key (<key id>:<hex HMAC> of the household number), as the authoritative system for the household gives it"`
	BirthYear    *int              `json:"birth_year,omitempty" hp:"int" doc:"Year of birth (from the ID number)"`
	Authorities  map[string]string `json:"authorities,omitempty" hp:"object" doc:"System whose word counts, by fact (poverty_status, poverty_cause, exit, deceased, household, poverty_mark, enrollment, chronic_card, diagnosis, contract): registry, insurance, his or public_health, per the county's settings"`
	Registry     SystemIdentity    `json:"registry,omitzero" hp:"object" doc:"The national poverty registry's view (国扶系统 / 防返贫监测)"`
	Insurance    SystemIdentity    `json:"insurance,omitzero" hp:"object" doc:"The medical-insurance system's view (医保)"`
	HIS          SystemIdentity    `json:"his,omitzero" hp:"object" doc:"The hospital information systems' view (HIS)"`
	PublicHealth SystemIdentity    `json:"public_health,omitzero" hp:"object" doc:"The public-health system's view (公卫)"`
}

// SystemIdentity is one system's view of a person inside an [IdentityView]:
// the current value of each identity flag the system holds, the dated
// episodes behind them, and the keys of the system's own records. A flag the
// system does not hold is absent.
type SystemIdentity struct {
	UpdatedAt         string            `json:"updated_at,omitempty" hp:"datetime" doc:"Latest updated_at (or ingestion time) of the system's records that fed this view"`
	PovertyStatus     string            `json:"poverty_status,omitempty" hp:"enum,enum=registered|pre_exit|exited|returned|monitored|none" doc:"Poverty status the system holds (建档立卡 / 预脱贫 / 已脱贫 / 返贫 / 监测对象 / none)"`
	StatusSince       string            `json:"status_since,omitempty" hp:"date" doc:"Date the current poverty status took effect"`
	PovertyCause      string            `json:"poverty_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Main cause of poverty (主要致贫原因)"`
	SecondaryCause    string            `json:"secondary_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Secondary cause of poverty (次要致贫原因)"`
	ExitYear          *int              `json:"exit_year,omitempty" hp:"int" doc:"Year the household exited poverty (脱贫年度)"`
	MinLiving         *bool             `json:"min_living,omitempty" hp:"bool" doc:"Receives the minimum living guarantee (低保)"`
	DestituteSupport  *bool             `json:"destitute_support,omitempty" hp:"bool" doc:"Receives destitute support (特困供养)"`
	Disabled          *bool             `json:"disabled,omitempty" hp:"bool" doc:"Holds a disability certificate (残疾)"`
	Deceased          *bool             `json:"deceased,omitempty" hp:"bool" doc:"The system records the person as dead"`
	DeceasedOn        string            `json:"deceased_on,omitempty" hp:"date" doc:"Date of death the system records"`
	PovertyMark       *bool             `json:"poverty_mark,omitempty" hp:"bool" doc:"Insurance poverty mark (贫困人口标识) in force today"`
	PovertyMarkFrom   string            `json:"poverty_mark_from,omitempty" hp:"date" doc:"First day of the poverty mark in force"`
	PovertyMarkTo     string            `json:"poverty_mark_to,omitempty" hp:"date" doc:"Last day of the poverty mark in force, if it has one"`
	PolicyLevel       string            `json:"policy_level,omitempty" hp:"enum,enum=standard|poverty_preferential" doc:"Reimbursement policy the latest enrolment applies (降档提标 or standard)"`
	PremiumSubsidised *bool             `json:"premium_subsidised,omitempty" hp:"bool" doc:"The latest enrolment's premium is paid by public finance (代缴)"`
	EnrollmentYear    *int              `json:"enrollment_year,omitempty" hp:"int" doc:"Insurance year of the latest enrolment"`
	EnrollmentStatus  string            `json:"enrollment_status,omitempty" hp:"enum,enum=active|suspended|terminated" doc:"Status of the latest enrolment"`
	ChronicCards      []string          `json:"chronic_cards,omitempty" hp:"strings,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Diseases (ICD-10) of the chronic-disease cards valid today, sorted"`
	Diagnoses         []string          `json:"diagnoses,omitempty" hp:"strings,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Diagnoses (ICD-10) the system has recorded for the person, distinct, sorted"`
	PriorityGroups    []string          `json:"priority_groups,omitempty" hp:"enums,enum=hypertension|diabetes_t2|tuberculosis|severe_mental_disorder|elderly_65|pregnant|child_0_6|disabled|poor|other" doc:"Priority groups (重点人群) of the family-doctor contracts in force, sorted"`
	Episodes          []IdentityEpisode `json:"episodes,omitempty" hp:"objects" doc:"Dated episodes of the flags, sorted by flag then from"`
	Records           []IdentityRecord  `json:"records,omitempty" hp:"objects" doc:"The system's own records that fed this view (person, household, enrolment, chronic card, contract), sorted by entity then source_id, for writeback to find the rows"`
}

// IdentityEpisode says that a flag held one value over a span of dates.
type IdentityEpisode struct {
	Flag     string `json:"flag,omitempty" hp:"string,required,pattern=^[a-z][a-z0-9_]*$" doc:"Flag name: poverty_status, poverty_cause, exit_year, deceased, min_living, poverty_mark, policy_level, chronic_card, contract (more may be added)"`
	Value    string `json:"value,omitempty" hp:"string,required" doc:"Value the flag held, as text (an enum value, true or false, a year, an ICD-10 code)"`
	From     string `json:"from,omitempty" hp:"date,required" doc:"First day the value held"`
	To       string `json:"to,omitempty" hp:"date" doc:"Last day the value held; absent while it still holds"`
	SourceID string `json:"source_id,omitempty" hp:"string" doc:"Source id of the record that says so"`
}

// IdentityRecord names one record of a system that fed an [IdentityView].
type IdentityRecord struct {
	Entity   string `json:"entity,omitempty" hp:"enum,required,enum=person|household|enrollment|chronic_card|contract" doc:"Canonical entity of the record"`
	ID       string `json:"id,omitempty" hp:"string,required" doc:"Envelope id of the record (<system>:<county>:<source key>)"`
	SourceID string `json:"source_id,omitempty" hp:"string,required" doc:"Key of the record in its source system (its HMAC where the key would hold an ID number)"`
	Mapping  string `json:"mapping,omitempty" hp:"string" doc:"Mapping that produced the record"`
	Deleted  *bool  `json:"deleted,omitempty" hp:"bool" doc:"The source has deleted or voided the record"`
}

// SettlementEnriched is derived by hpgate's identity stage: a settlement
// re-published on <prefix>settlement_enriched.v1 with the person's identity
// flags as they stood on the service date (the settlement time), as the
// authoritative systems held them, and the rules the settlement broke. It
// carries every settlement field unchanged, under the same person key.
type SettlementEnriched struct {
	Settlement
	Flags SettlementFlags `json:"flags,omitzero" hp:"object" doc:"The person's identity flags on the service date"`
}

// SettlementFlags are a person's identity flags on one date, each from the
// system whose word counts for it.
type SettlementFlags struct {
	AsOf          string   `json:"as_of,omitempty" hp:"date,required" doc:"Date the flags are for: the service date"`
	PovertyStatus string   `json:"poverty_status,omitempty" hp:"enum,enum=registered|pre_exit|exited|returned|monitored|none" doc:"Poverty status on the date, from the authoritative system (the registry by default); absent when it has no record"`
	PovertyCause  string   `json:"poverty_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Main cause of poverty on the date"`
	Poor          *bool    `json:"poor,omitempty" hp:"bool" doc:"Registered, pre-exit or returned on the date: the poor-population policy applies"`
	PovertyMark   *bool    `json:"poverty_mark,omitempty" hp:"bool" doc:"The insurance poverty mark was in force on the date"`
	MinLiving     *bool    `json:"min_living,omitempty" hp:"bool" doc:"Minimum living guarantee (低保) on the date"`
	Deceased      *bool    `json:"deceased,omitempty" hp:"bool" doc:"Recorded as dead on or before the date"`
	ChronicCards  []string `json:"chronic_cards,omitempty" hp:"strings,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Diseases (ICD-10) of the chronic-disease cards valid on the date"`
	Alerts        []string `json:"alerts,omitempty" hp:"enums,enum=R01|R02|R04|R05|R06|R07|R08|R09|R14|R15|RPR" doc:"Rules the settlement broke (see policy_alert.v1)"`
}
