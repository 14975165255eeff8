package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/registry"
	"github.com/hpgate/hpgate/connectors/registry/registrysim"
)

// TestStatsUnderFaults: the counters the monitoring package exports move
// as the registry misbehaves: a 429, a 500 and a truncated page are
// retried and counted, the read still succeeds; an outage counts a failed
// read and requests without a response.
func TestStatsUnderFaults(t *testing.T) {
	f := newFixture(t, 10, false)
	s := f.source(t, nil)
	if st := s.Stats(); len(st.Requests) != 0 || !st.LastPage.IsZero() || st.Errors != 0 {
		t.Fatalf("stats before the first read: %+v", st)
	}
	for _, fault := range []registrysim.Fault{
		{Kind: registrysim.Fault429, Resource: "persons", RetryAfter: time.Second},
		{Kind: registrysim.Fault500, Resource: "persons"},
		{Kind: registrysim.FaultTruncate, Resource: "persons"},
	} {
		if err := f.sim.Inject(fault); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now()
	ids, _ := readAll(t, s, persons, "", 5)
	if len(ids) != 10 {
		t.Fatalf("%d persons read, want 10", len(ids))
	}
	st := s.Stats()
	ok := st.Requests[registry.RequestClass{Resource: "persons", Class: "2xx"}]
	if st.RateLimited != 1 || st.MalformedPages != 1 || st.Retries != 3 {
		t.Errorf("429s %d, malformed pages %d, retries %d; want 1, 1, 3", st.RateLimited, st.MalformedPages, st.Retries)
	}
	if n := st.Requests[registry.RequestClass{Resource: "persons", Class: "4xx"}]; n != 1 {
		t.Errorf("persons 4xx requests %d, want 1 (the 429)", n)
	}
	if n := st.Requests[registry.RequestClass{Resource: "persons", Class: "5xx"}]; n != 1 {
		t.Errorf("persons 5xx requests %d, want 1", n)
	}
	// Three pages of 5, 5 and 0 persons, plus the truncated one answered 200.
	if ok < 4 {
		t.Errorf("persons 2xx requests %d, want at least 4: %v", ok, st.Requests)
	}
	if st.LastPage.Before(before) || st.Errors != 0 {
		t.Errorf("last page %v (read started %v), %d failed reads", st.LastPage, before, st.Errors)
	}

	// Pages still malformed after the retries: a failed read, an outage.
	if err := f.sim.Inject(registrysim.Fault{Kind: registrysim.FaultTruncate, Times: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(context.Background(), persons, "", 5); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	st2 := s.Stats()
	if st2.MalformedPages != st.MalformedPages+4 || st2.Errors != 1 || st2.Unavailable != 1 || !st2.LastPage.Equal(st.LastPage) {
		t.Errorf("after a read that failed on malformed pages: %+v", st2)
	}

	// The server down: requests without a response.
	down := f.source(t, func(c *registry.Config) { c.URL = "http://127.0.0.1:1"; c.Retries = 1 })
	if _, err := down.Read(context.Background(), persons, "", 5); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	st3 := down.Stats()
	if n := st3.Requests[registry.RequestClass{Resource: "persons", Class: "error"}]; n != 2 || st3.Retries != 1 || st3.Unavailable != 1 {
		t.Errorf("server down: %+v", st3)
	}
}
