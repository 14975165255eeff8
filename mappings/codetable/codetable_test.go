package codetable

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time { t, _ := time.Parse(time.DateOnly, s); return t }

func TestCSVWithValidity(t *testing.T) {
	in := "\ufeffcode,value,valid_from,valid_to\n" +
		"370282,370282,,2017-09-20\n" +
		"370215,370282,2017-09-20,\n" +
		"01,village,,\n"
	tab, err := ReadCSV("area", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		code string
		at   time.Time
		want string
		ok   bool
	}{
		{"370282", day("2016-01-01"), "370282", true},
		{"370282", day("2018-01-01"), "", false},
		{"370215", day("2018-01-01"), "370282", true},
		{"370215", day("2017-09-19"), "", false},
		{"01", day("2030-01-01"), "village", true},
		{"99", time.Time{}, "", false},
	}
	for _, c := range cases {
		got, ok := tab.Lookup(c.code, c.at)
		if got != c.want || ok != c.ok {
			t.Errorf("Lookup(%s, %s) = %q,%v want %q,%v", c.code, c.at.Format(time.DateOnly), got, ok, c.want, c.ok)
		}
	}
}

func TestCSVErrorsNameLines(t *testing.T) {
	in := "code,value,valid_from\n1,a,\n,b,\n2,c,2017-13-01\n1,d,\n"
	_, err := ReadCSV("x", strings.NewReader(in))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"line 3: empty code", `line 4: valid_from "2017-13-01"`, `line 5: code "1": validity overlaps`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var le *LineError
	if !errors.As(err, &le) {
		t.Error("not a LineError")
	}
	if _, err := ReadCSV("x", strings.NewReader("a,b\n")); err == nil || !strings.Contains(err.Error(), "code and value") {
		t.Errorf("bad header: %v", err)
	}
}

func TestLookupAllocs(t *testing.T) {
	tab := FromMap("g", map[string]string{"1": "male", "2": "female"})
	key := []byte("2")
	n := testing.AllocsPerRun(100, func() {
		if v, ok := tab.Lookup(string(key), time.Time{}); !ok || v != "female" {
			t.Fatal("lookup")
		}
	})
	if n != 0 {
		t.Errorf("Lookup allocates %v", n)
	}
	if got := tab.Values(); strings.Join(got, ",") != "female,male" {
		t.Errorf("Values = %v", got)
	}
}
