package canonical_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hpgate/hpgate/mappings/canonical"
)

func sampleIdentityView() canonical.IdentityView {
	year := 1958
	mark := true
	return canonical.IdentityView{
		Subject: canonical.Subject{
			Origin: canonical.Origin{County: "370282", SourceSystem: "hpgate",
				SourceID: "k1:" + strings.Repeat("a", 64), UpdatedAt: "2019-03-01T10:00:00+08:00"},
			PersonKey: "k1:" + strings.Repeat("a", 64),
			IDMasked:  "370282********123X",
			IDQuality: "valid",
		},
		BirthYear:   &year,
		Authorities: map[string]string{"poverty_status": "registry", "poverty_mark": "insurance"},
		Registry: canonical.SystemIdentity{
			PovertyStatus: "registered", StatusSince: "2019-01-01", PovertyCause: "illness",
			Episodes: []canonical.IdentityEpisode{{Flag: "poverty_status", Value: "registered", From: "2019-01-01", SourceID: "HH1-01"}},
			Records:  []canonical.IdentityRecord{{Entity: "person", ID: "registry:370282:HH1-01", SourceID: "HH1-01"}},
		},
		Insurance: canonical.SystemIdentity{
			PovertyMark: &mark, PovertyMarkFrom: "2019-02-01",
			Episodes: []canonical.IdentityEpisode{{Flag: "poverty_mark", Value: "true", From: "2019-02-01", To: "2019-12-31"}},
			Records:  []canonical.IdentityRecord{{Entity: "enrollment", ID: "insurance:370282:E1", SourceID: "E1"}},
		},
	}
}

func TestValidateDataIdentityView(t *testing.T) {
	b, err := json.Marshal(sampleIdentityView())
	if err != nil {
		t.Fatal(err)
	}
	if err := canonical.ValidateData("identity", b); err != nil {
		t.Fatalf("ValidateData(%s): %v", b, err)
	}
	if strings.Contains(string(b), `"his"`) {
		t.Errorf("an empty system view is not omitted: %s", b)
	}

	bad := sampleIdentityView()
	bad.Registry.Episodes[0].From = ""
	bad.Insurance.Records[0].Entity = "settlement"
	bad.Insurance.ChronicCards = []string{"not-icd"}
	b, err = json.Marshal(bad)
	if err != nil {
		t.Fatal(err)
	}
	err = canonical.ValidateData("identity", b)
	var ve *canonical.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("ValidateData(bad) = %v, want a *ValidationError", err)
	}
	got := map[string]bool{}
	for _, p := range ve.Problems {
		got[p.Path] = true
	}
	for _, path := range []string{"/registry/episodes/0", "/insurance/records/0/entity", "/insurance/chronic_cards/0"} {
		if !got[path] {
			t.Errorf("no problem at %s; got %v", path, ve.Problems)
		}
	}
}
