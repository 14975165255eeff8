package normalize

import (
	"testing"
	"time"
)

// TestZeroAllocs checks the allocation contract of the hot paths. The inputs
// are held in interface values already, as database/sql rows hold them.
func TestZeroAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("allocation counts differ under coverage")
	}
	id := "11010519491231002X"
	tests := []struct {
		name string
		f    func() error
	}{
		{"IDCard normalised", func() error { _, err := IDCard(id); return err }},
		{"Date 8 digits", dateCall("20190301")},
		{"Date 14 digits", dateCall("20190301102030")},
		{"Date 10 chars", dateCall("2019-03-01")},
		{"Date 19 chars", dateCall("2019-03-01 10:20:30")},
		{"Date 19 bytes", dateCall([]byte("2019-03-01 10:20:30"))},
		{"Date chinese", dateCall("2019年3月1日")},
		{"Date RFC 3339 whole-hour offset", dateCall("2019-03-01T10:20:30+08:00")},
		{"Date excel string", dateCall("43525.5")},
		{"Date time.Time", dateCall(time.Date(2019, 3, 1, 10, 20, 30, 0, time.UTC))},
		{"Date hot explicit layout", func() error {
			_, err := Date(any("2019-03-01 10:20:30"), nil, "2006-01-02 15:04:05")
			return err
		}},
		{"Money string", moneyCall("¥1,234.56")},
		{"Money bytes", moneyCall([]byte("-1234.565"))},
		{"Money int64", moneyCall(int64(123456))},
		{"Money float64", moneyCall(1234.56)},
		{"Text clean", textCall("张三", UTF8)},
		{"Text padded string", textCall(" 张三\u3000", UTF8)},
		{"Text ascii gbk string", textCall("abc", GBK)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f(); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(100, func() { _ = tc.f() }); n != 0 {
				t.Errorf("%v allocations per call, want 0", n)
			}
		})
	}
}

func dateCall(v any) func() error {
	return func() error { _, err := Date(v, nil); return err }
}

func moneyCall(v any) func() error {
	return func() error { _, err := Money(v, Yuan); return err }
}

func textCall(v any, enc Encoding) func() error {
	return func() error { _, err := Text(v, enc); return err }
}
