package canonical

// Encounter is one outpatient visit or inpatient stay as the HIS records it.
type Encounter struct {
	Subject
	EncounterNo       string   `json:"encounter_no,omitempty" hp:"string,required" doc:"Visit or admission number (门诊号 / 住院号)"`
	FacilityCode      string   `json:"facility_code,omitempty" hp:"string" doc:"Code of the treating facility"`
	FacilityLevel     string   `json:"facility_level,omitempty" hp:"enum,enum=village|township|county|city|province" doc:"Administrative level of the facility (村 / 乡镇 / 县 / 市 / 省)"`
	HospitalGrade     string   `json:"hospital_grade,omitempty" hp:"enum,enum=none|primary|secondary|tertiary" doc:"Hospital grade (未定级 / 一级 / 二级 / 三级)"`
	EncounterType     string   `json:"encounter_type,omitempty" hp:"enum,enum=outpatient|inpatient|chronic_outpatient|emergency" doc:"Type of encounter (门诊 / 住院 / 门诊慢特病 / 急诊)"`
	AdmittedAt        string   `json:"admitted_at,omitempty" hp:"datetime" doc:"Admission or registration time"`
	DischargedAt      string   `json:"discharged_at,omitempty" hp:"datetime" doc:"Discharge time"`
	MainDiagnosis     string   `json:"main_diagnosis,omitempty" hp:"code,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Main diagnosis (ICD-10)"`
	Diagnoses         []string `json:"diagnoses,omitempty" hp:"strings,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"All diagnoses (ICD-10), main diagnosis first"`
	Department        string   `json:"department,omitempty" hp:"string" doc:"Treating department"`
	DepositAmount     string   `json:"deposit_amount,omitempty" hp:"money" doc:"Deposit paid on admission (住院押金), yuan"`
	DepositWaived     *bool    `json:"deposit_waived,omitempty" hp:"bool" doc:"Deposit waived (免押金)"`
	PayAfterTreatment *bool    `json:"pay_after_treatment,omitempty" hp:"bool" doc:"Treated under pay-after-treatment (先诊疗后付费)"`
	InCounty          *bool    `json:"in_county,omitempty" hp:"bool" doc:"The facility is inside the person's county (县域内)"`
}

// Settlement is the one-stop settlement (一站式结算) of one encounter by the
// insurance system: the costs and one amount per payer layer. A reversal
// (冲销) is a settlement of its own that names the one it reverses.
type Settlement struct {
	Subject
	SettlementNo         string `json:"settlement_no,omitempty" hp:"string,required" doc:"Settlement number"`
	EncounterNo          string `json:"encounter_no,omitempty" hp:"string" doc:"Visit or admission number of the settled encounter"`
	FacilityCode         string `json:"facility_code,omitempty" hp:"string" doc:"Code of the treating facility"`
	FacilityLevel        string `json:"facility_level,omitempty" hp:"enum,enum=village|township|county|city|province" doc:"Administrative level of the facility (村 / 乡镇 / 县 / 市 / 省)"`
	HospitalGrade        string `json:"hospital_grade,omitempty" hp:"enum,enum=none|primary|secondary|tertiary" doc:"Hospital grade (未定级 / 一级 / 二级 / 三级)"`
	EncounterType        string `json:"encounter_type,omitempty" hp:"enum,enum=outpatient|inpatient|chronic_outpatient|emergency" doc:"Type of encounter (门诊 / 住院 / 门诊慢特病 / 急诊)"`
	InsuranceScheme      string `json:"insurance_scheme,omitempty" hp:"enum,enum=urban_rural_resident|employee|new_rural_cooperative" doc:"Insurance scheme that settled (城乡居民医保 / 职工医保 / 新农合)"`
	SettledAt            string `json:"settled_at,omitempty" hp:"datetime,required" doc:"Settlement time"`
	MainDiagnosis        string `json:"main_diagnosis,omitempty" hp:"code,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Main diagnosis (ICD-10)"`
	TotalCost            string `json:"total_cost,omitempty" hp:"money,required" doc:"Total cost (医疗总费用), yuan"`
	InScopeCost          string `json:"in_scope_cost,omitempty" hp:"money" doc:"Cost within the policy scope (政策范围内费用), yuan"`
	NonReimbursableCost  string `json:"non_reimbursable_cost,omitempty" hp:"money" doc:"Cost outside the reimbursement catalogue (目录外费用), yuan"`
	Deductible           string `json:"deductible,omitempty" hp:"money" doc:"Deductible applied (起付线), yuan"`
	BasicInsurance       string `json:"basic_insurance,omitempty" hp:"money" doc:"Paid by basic medical insurance (基本医保), yuan"`
	CriticalIllness      string `json:"critical_illness,omitempty" hp:"money" doc:"Paid by critical-illness insurance (大病保险), yuan"`
	Supplementary        string `json:"supplementary,omitempty" hp:"money" doc:"Paid by supplementary insurance (补充保险), yuan"`
	MedicalAssistance    string `json:"medical_assistance,omitempty" hp:"money" doc:"Paid by medical assistance (医疗救助), yuan"`
	GovernmentBackstop   string `json:"government_backstop,omitempty" hp:"money" doc:"Paid by the government backstop (政府兜底), yuan"`
	OtherFunds           string `json:"other_funds,omitempty" hp:"money" doc:"Paid by other funds (charity, emergency assistance), yuan"`
	OutOfPocket          string `json:"out_of_pocket,omitempty" hp:"money" doc:"Paid by the patient (个人自付), yuan"`
	DepositPaid          string `json:"deposit_paid,omitempty" hp:"money" doc:"Deposit the patient had paid, yuan"`
	DepositWaived        *bool  `json:"deposit_waived,omitempty" hp:"bool" doc:"Deposit waived (免押金)"`
	OneStop              *bool  `json:"one_stop,omitempty" hp:"bool" doc:"Settled in one stop at discharge (一站式结算)"`
	InCounty             *bool  `json:"in_county,omitempty" hp:"bool" doc:"The facility is inside the person's county (县域内)"`
	Reversal             *bool  `json:"reversal,omitempty" hp:"bool" doc:"This record reverses an earlier settlement (冲销); its amounts are negative"`
	ReversesSettlementNo string `json:"reverses_settlement_no,omitempty" hp:"string" doc:"Settlement number this reversal reverses"`
}
