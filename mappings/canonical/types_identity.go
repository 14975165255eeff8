package canonical

// Person is one system's view of a resident: identity, household and the
// identity flags (身份标识) that decide which policies apply. The registry is
// the authority on poverty status, cause and exit; every other system's view
// is compared with it.
type Person struct {
	Subject
	NameMasked            string `json:"name_masked,omitempty" hp:"string,pii,pattern=\\*" doc:"Name with characters masked by *; the clear name never leaves the mapper"`
	Gender                string `json:"gender,omitempty" hp:"code,enum=0|1|2|9" doc:"Gender code (GB/T 2261.1): 1 male, 2 female, 0 unknown, 9 unspecified"`
	BirthYear             *int   `json:"birth_year,omitempty" hp:"int" doc:"Year of birth (from the ID number; the full birth date never leaves the mapper)"`
	AreaCode              string `json:"area_code,omitempty" hp:"code,pattern=^[0-9]{12}$" doc:"12-digit village-level statistical area code (county, township, village)"`
	HouseholdKey          string `json:"household_key,omitempty" hp:"string,pattern=^[a-z0-9]+:[0-9a-f]{64}$" doc:"Household key: <key id>:<hex HMAC> of the household number (户编号)"`
	RelationToHead        string `json:"relation_to_head,omitempty" hp:"enum,enum=head|spouse|child|child_in_law|grandchild|parent|grandparent|sibling|other" doc:"Relation to the head of household (与户主关系)"`
	PovertyStatus         string `json:"poverty_status,omitempty" hp:"enum,enum=registered|pre_exit|exited|returned|monitored|none" doc:"Poverty status (建档立卡 / 预脱贫 / 已脱贫 / 返贫 / 监测对象 / none), copied from the household"`
	StatusSince           string `json:"status_since,omitempty" hp:"date" doc:"Date the current poverty status took effect"`
	ExitYear              *int   `json:"exit_year,omitempty" hp:"int" doc:"Year the household exited poverty (脱贫年度)"`
	PovertyCause          string `json:"poverty_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Main cause of poverty (主要致贫原因); illness is 因病致贫, illness_return 因病返贫"`
	SecondaryCause        string `json:"secondary_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Secondary cause of poverty (次要致贫原因)"`
	MinLiving             *bool  `json:"min_living,omitempty" hp:"bool" doc:"Receives the minimum living guarantee (低保)"`
	DestituteSupport      *bool  `json:"destitute_support,omitempty" hp:"bool" doc:"Receives destitute support (特困供养)"`
	Disabled              *bool  `json:"disabled,omitempty" hp:"bool" doc:"Holds a disability certificate (残疾)"`
	DisabilityGrade       *int   `json:"disability_grade,omitempty" hp:"int,min=1,max=4" doc:"Disability grade, 1 (most severe) to 4"`
	FamilyPlanningSpecial *bool  `json:"family_planning_special,omitempty" hp:"bool" doc:"Member of a family-planning special family (计生特殊家庭)"`
	Relocated             *bool  `json:"relocated,omitempty" hp:"bool" doc:"Member of a relocated household (易地扶贫搬迁)"`
	Deceased              *bool  `json:"deceased,omitempty" hp:"bool" doc:"The person has died"`
	DeceasedOn            string `json:"deceased_on,omitempty" hp:"date" doc:"Date of death"`
}

// Household is a registry household (户). It is keyed by its household key,
// not by a person, and is the only entity without a person key.
type Household struct {
	Origin
	HouseholdKey   string `json:"household_key,omitempty" hp:"string,required,pattern=^[a-z0-9]+:[0-9a-f]{64}$" doc:"Household key: <key id>:<hex HMAC> of the household number (户编号); the Kafka key"`
	AreaCode       string `json:"area_code,omitempty" hp:"code,pattern=^[0-9]{12}$" doc:"12-digit village-level statistical area code (county, township, village)"`
	HeadPersonKey  string `json:"head_person_key,omitempty" hp:"string,pattern=^[a-z0-9]+:[0-9a-f]{64}$" doc:"Person key of the head of household (户主)"`
	HeadIDMasked   string `json:"head_id_masked,omitempty" hp:"string,pii,pattern=^[0-9]{6}\\*{8}[0-9]{3}[0-9X]$" doc:"Masked ID number of the head of household"`
	MemberCount    *int   `json:"member_count,omitempty" hp:"int,min=0" doc:"Number of household members (家庭人口数)"`
	PovertyStatus  string `json:"poverty_status,omitempty" hp:"enum,enum=registered|pre_exit|exited|returned|monitored|none" doc:"Poverty status (建档立卡 / 预脱贫 / 已脱贫 / 返贫 / 监测对象 / none)"`
	PovertyCause   string `json:"poverty_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Main cause of poverty (主要致贫原因)"`
	SecondaryCause string `json:"secondary_cause,omitempty" hp:"enum,enum=illness|illness_return|disability|education|disaster|lack_of_land|lack_of_water|lack_of_skills|lack_of_labour|lack_of_funds|transport|self_development|other" doc:"Secondary cause of poverty (次要致贫原因)"`
	ExitYear       *int   `json:"exit_year,omitempty" hp:"int" doc:"Year the household exited poverty (脱贫年度)"`
	StatusSince    string `json:"status_since,omitempty" hp:"date" doc:"Date the current poverty status took effect"`
	MinLiving      *bool  `json:"min_living,omitempty" hp:"bool" doc:"The household receives the minimum living guarantee (低保户)"`
	Relocated      *bool  `json:"relocated,omitempty" hp:"bool" doc:"Relocated household (易地扶贫搬迁)"`
}

// Enrollment is a person's enrolment in a medical-insurance scheme for one
// year (参保), with the poverty mark that gives the preferential policy.
type Enrollment struct {
	Subject
	EnrollmentNo      string `json:"enrollment_no,omitempty" hp:"string" doc:"Enrolment number in the insurance system"`
	Scheme            string `json:"scheme,omitempty" hp:"enum,enum=urban_rural_resident|employee|new_rural_cooperative" doc:"Insurance scheme (城乡居民医保 / 职工医保 / 新农合)"`
	Year              *int   `json:"year,omitempty" hp:"int,required" doc:"Insurance year the enrolment covers"`
	Status            string `json:"status,omitempty" hp:"enum,enum=active|suspended|terminated" doc:"Enrolment status"`
	EnrolledOn        string `json:"enrolled_on,omitempty" hp:"date" doc:"Date of enrolment"`
	PremiumSubsidised *bool  `json:"premium_subsidised,omitempty" hp:"bool" doc:"Premium paid by public finance from the poverty roster (代缴)"`
	SubsidyAmount     string `json:"subsidy_amount,omitempty" hp:"money" doc:"Premium amount paid by public finance, yuan"`
	PovertyMark       *bool  `json:"poverty_mark,omitempty" hp:"bool" doc:"Marked as poor in the insurance system (贫困人口标识)"`
	PovertyMarkFrom   string `json:"poverty_mark_from,omitempty" hp:"date" doc:"First day the poverty mark is effective"`
	PovertyMarkTo     string `json:"poverty_mark_to,omitempty" hp:"date" doc:"Last day the poverty mark is effective"`
	PolicyLevel       string `json:"policy_level,omitempty" hp:"enum,enum=standard|poverty_preferential" doc:"Reimbursement policy applied: standard, or the poverty preference (降档提标)"`
}

// ChronicCard is an outpatient special chronic-disease card (门诊特殊慢性病卡,
// 特慢病服务证) issued by the insurance system.
type ChronicCard struct {
	Subject
	CardNo          string `json:"card_no,omitempty" hp:"string,required" doc:"Card number"`
	DiseaseCode     string `json:"disease_code,omitempty" hp:"code,pattern=^[A-Z][0-9]{2}(\\.[0-9A-Z]{1,4})?$" doc:"Disease (ICD-10)"`
	DiseaseCategory string `json:"disease_category,omitempty" hp:"string" doc:"Disease category code in the county's chronic-disease catalogue (慢病病种)"`
	IssuedOn        string `json:"issued_on,omitempty" hp:"date" doc:"Date of issue"`
	ExpiresOn       string `json:"expires_on,omitempty" hp:"date" doc:"Last day of validity"`
	IssuingFacility string `json:"issuing_facility,omitempty" hp:"string" doc:"Code of the facility that certified the disease"`
	Status          string `json:"status,omitempty" hp:"enum,enum=active|expired|revoked" doc:"Card status"`
}
