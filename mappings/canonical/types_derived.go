package canonical

// Discrepancy is derived by hpgate: two systems disagree about one person's
// identity flags or cause of poverty. It stays open until the systems agree;
// resolution is a field, not a delete.
type Discrepancy struct {
	Subject
	DiscrepancyID string            `json:"discrepancy_id,omitempty" hp:"string,required" doc:"Stable id of the discrepancy (same person, kind and systems give the same id)"`
	Kind          string            `json:"kind,omitempty" hp:"enum,required,enum=registry_mark_missing|exited_still_marked|deceased_still_marked|cause_diagnosis_mismatch|chronic_card_missing|fallback_identity" doc:"What disagrees"`
	Systems       []string          `json:"systems,omitempty" hp:"enums,enum=his|public_health|insurance|registry" doc:"Systems involved"`
	Values        map[string]string `json:"values,omitempty" hp:"object" doc:"Each involved system's value, by system name"`
	Authority     string            `json:"authority,omitempty" hp:"enum,enum=his|public_health|insurance|registry" doc:"System whose word counts for this fact"`
	Since         string            `json:"since,omitempty" hp:"datetime" doc:"When the systems started to disagree"`
	Status        string            `json:"status,omitempty" hp:"enum,required,enum=open|resolved" doc:"Whether the systems still disagree"`
	ResolvedAt    string            `json:"resolved_at,omitempty" hp:"datetime" doc:"When the systems came to agree"`
	Detail        string            `json:"detail,omitempty" hp:"string" doc:"Explanation for the reviewer, without personal data"`
}

// PolicyAlert is derived by hpgate: a settlement or record breaks a policy
// rule (domain.md §4).
type PolicyAlert struct {
	Subject
	AlertID      string            `json:"alert_id,omitempty" hp:"string,required" doc:"Stable id of the alert (same rule and record give the same id)"`
	Rule         string            `json:"rule,omitempty" hp:"enum,required,enum=R01|R02|R04|R05|R06|R07|R08|R09|R14|R15|RPR" doc:"Rule broken (domain.md §4); RPR is the return-to-poverty risk (返贫风险)"`
	SettlementNo string            `json:"settlement_no,omitempty" hp:"string" doc:"Settlement that broke the rule, if any"`
	Figures      map[string]string `json:"figures,omitempty" hp:"object" doc:"Figures the rule was checked with, by name, as decimal text"`
	Threshold    string            `json:"threshold,omitempty" hp:"string" doc:"Threshold the figures broke, as the rule states it"`
	Message      string            `json:"message,omitempty" hp:"string" doc:"Explanation for the reviewer, without personal data"`
	RaisedAt     string            `json:"raised_at,omitempty" hp:"datetime" doc:"When hpgate raised the alert"`
}
