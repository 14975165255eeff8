package canonical

import "encoding/json"

// Contract is a family-doctor service contract (家庭医生签约) from the
// public-health system.
type Contract struct {
	Subject
	ContractNo     string   `json:"contract_no,omitempty" hp:"string,required" doc:"Contract number"`
	Team           string   `json:"team,omitempty" hp:"string" doc:"Family-doctor team (签约团队) code or name"`
	DoctorCode     string   `json:"doctor_code,omitempty" hp:"string" doc:"Code of the contracted doctor"`
	SignedOn       string   `json:"signed_on,omitempty" hp:"date" doc:"Date the contract was signed"`
	PeriodFrom     string   `json:"period_from,omitempty" hp:"date" doc:"First day of the service period"`
	PeriodTo       string   `json:"period_to,omitempty" hp:"date" doc:"Last day of the service period"`
	Package        string   `json:"package,omitempty" hp:"enum,enum=basic|intermediate|advanced" doc:"Service package (基础包 / 中级包 / 高级包)"`
	PriorityGroups []string `json:"priority_groups,omitempty" hp:"enums,enum=hypertension|diabetes_t2|tuberculosis|severe_mental_disorder|elderly_65|pregnant|child_0_6|disabled|poor|other" doc:"Priority groups (重点人群) the person belongs to"`
	Status         string   `json:"status,omitempty" hp:"enum,enum=active|expired|cancelled" doc:"Contract status"`
}

// Followup is one follow-up visit (随访) of a managed chronic condition.
type Followup struct {
	Subject
	FollowupNo     string      `json:"followup_no,omitempty" hp:"string,required" doc:"Follow-up record number"`
	ContractNo     string      `json:"contract_no,omitempty" hp:"string" doc:"Family-doctor contract the follow-up belongs to"`
	FollowedOn     string      `json:"followed_on,omitempty" hp:"date,required" doc:"Date of the follow-up"`
	Kind           string      `json:"kind,omitempty" hp:"enum,enum=face_to_face|phone|home_visit|online" doc:"How the follow-up was made (门诊 / 电话 / 家庭 / 网络)"`
	Condition      string      `json:"condition,omitempty" hp:"enum,enum=hypertension|diabetes_t2|tuberculosis|severe_mental_disorder|stroke|coronary_disease|copd|chronic_bronchitis|rheumatoid_arthritis|osteoarthritis|elderly|other" doc:"Managed condition the follow-up is for"`
	SystolicBP     *int        `json:"systolic_bp,omitempty" hp:"int" doc:"Systolic blood pressure, mmHg"`
	DiastolicBP    *int        `json:"diastolic_bp,omitempty" hp:"int" doc:"Diastolic blood pressure, mmHg"`
	FastingGlucose json.Number `json:"fasting_glucose,omitempty" hp:"number" doc:"Fasting blood glucose, mmol/L"`
	Result         string      `json:"result,omitempty" hp:"enum,enum=controlled|uncontrolled|adverse_reaction|complication|other" doc:"Assessment of this follow-up (随访评价)"`
}

// HealthCheck is a health check-up (健康体检).
type HealthCheck struct {
	Subject
	CheckNo        string      `json:"check_no,omitempty" hp:"string,required" doc:"Check-up record number"`
	CheckedOn      string      `json:"checked_on,omitempty" hp:"date,required" doc:"Date of the check-up"`
	FacilityCode   string      `json:"facility_code,omitempty" hp:"string" doc:"Code of the facility that did the check-up"`
	Kind           string      `json:"kind,omitempty" hp:"enum,enum=annual|free_poor|elderly|other" doc:"Kind of check-up: annual, free check-up for the poor, elderly (65+) or other"`
	Result         string      `json:"result,omitempty" hp:"enum,enum=normal|abnormal" doc:"Overall result"`
	SystolicBP     *int        `json:"systolic_bp,omitempty" hp:"int" doc:"Systolic blood pressure, mmHg"`
	DiastolicBP    *int        `json:"diastolic_bp,omitempty" hp:"int" doc:"Diastolic blood pressure, mmHg"`
	FastingGlucose json.Number `json:"fasting_glucose,omitempty" hp:"number" doc:"Fasting blood glucose, mmol/L"`
}

// HealthRecord is an electronic health record (电子健康档案).
type HealthRecord struct {
	Subject
	RecordNo     string `json:"record_no,omitempty" hp:"string,required" doc:"Health record number"`
	CreatedOn    string `json:"created_on,omitempty" hp:"date" doc:"Date the record was created"`
	Status       string `json:"status,omitempty" hp:"enum,enum=active|inactive|closed|moved_out" doc:"Record status (在册 / 未激活 / 结案 / 迁出)"`
	FacilityCode string `json:"facility_code,omitempty" hp:"string" doc:"Code of the facility that keeps the record"`
}

// Treatment is a case tracked under 三个一批 (treat a batch of major diseases,
// manage a batch of chronic diseases under contract, back-stop a batch of
// severe illnesses).
type Treatment struct {
	Subject
	TreatmentNo        string `json:"treatment_no,omitempty" hp:"string,required" doc:"Treatment case number"`
	Programme          string `json:"programme,omitempty" hp:"enum,enum=major_disease|chronic_contract|severe_backstop" doc:"Programme (大病集中救治一批 / 慢病签约服务管理一批 / 重病兜底保障一批)"`
	DiseaseCode        string `json:"disease_code,omitempty" hp:"code,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Disease (ICD-10)"`
	DiseaseCategory    string `json:"disease_category,omitempty" hp:"string" doc:"Disease category code in the county's programme list"`
	DesignatedFacility string `json:"designated_facility,omitempty" hp:"string" doc:"Code of the designated hospital (定点医院)"`
	Status             string `json:"status,omitempty" hp:"enum,enum=to_treat|in_treatment|treated" doc:"Treatment status (待救治 / 救治中 / 已救治)"`
	IdentifiedOn       string `json:"identified_on,omitempty" hp:"date" doc:"Date the case was identified"`
	TreatedOn          string `json:"treated_on,omitempty" hp:"date" doc:"Date treatment was completed"`
}
