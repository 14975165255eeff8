package mappings

import (
	"fmt"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/pii"
)

// benchBatch builds n rows of the 21-column settlement table as MySQL
// returns them ([]byte text, DECIMAL and DATETIME as bytes).
func benchBatch(n int) *connectors.Batch {
	cols := []string{"JSID", "JZID", "SFZH", "YYBM", "YYDJ", "JZLX", "JSSJ", "ZDDM", "ZFY", "ZCFY",
		"ZWFY", "QFX", "TCZF", "DBZF", "JZZF", "DDZF", "GRZF", "CXBZ", "GXSJ", "XM", "BZ"}
	b := &connectors.Batch{Columns: cols}
	for i := range n {
		b.Rows = append(b.Rows, []any{
			fmt.Appendf(nil, "JS%08d", i), fmt.Appendf(nil, "JZ%08d", i), []byte("11010519491231002X"),
			[]byte("H37028201"), []byte("2"), []byte("21"), []byte("2019-03-01 10:00:00"), []byte("I10"),
			[]byte("1234567"), []byte("1000000"), []byte("23456"), []byte("50000"), []byte("800000"),
			[]byte("100000"), []byte("50000"), []byte("20000"), []byte("114567"), []byte("0"),
			[]byte("2019-03-01 10:00:05"), []byte("张三"), []byte("备注"),
		})
	}
	return b
}

func loadBench(tb testing.TB) *Mapping {
	tb.Helper()
	return loadBenchWith(tb, pii.Algorithms{})
}

// loadBenchWith loads the settlement mapping under the fixture secret
// with the algorithms alg.
func loadBenchWith(tb testing.TB, alg pii.Algorithms) *Mapping {
	tb.Helper()
	key, err := pii.NewKeyWith(pii.TestKeyID, []byte(pii.TestSecret), alg)
	if err != nil {
		tb.Fatal(err)
	}
	ms, err := Load(Options{Key: key}, "testdata/bench/settlement.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return ms[0]
}

// BenchmarkApplySettlement maps and encodes 21-column settlement rows, in
// batches of 1,000 as the pipeline does, under each person-key HMAC;
// figures are per row.
func BenchmarkApplySettlement(b *testing.B) {
	for _, hmac := range pii.HMACs {
		b.Run(hmac, func(b *testing.B) { benchApply(b, loadBenchWith(b, pii.Algorithms{HMAC: hmac})) })
	}
}

func benchApply(b *testing.B, m *Mapping) {
	batch := benchBatch(1000)
	var res Result
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		res.Reset()
		if err := m.Apply(batch, &res, now); err != nil {
			b.Fatal(err)
		}
		if len(res.Records) != len(batch.Rows) {
			b.Fatalf("%d records, %v", len(res.Records), res.Rejections)
		}
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(len(batch.Rows))
	b.ReportMetric(per, "ns/row")
	b.ReportMetric(0, "ns/op")
}
