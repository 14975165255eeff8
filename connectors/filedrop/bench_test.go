package filedrop

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/hpgate/hpgate/connectors"
)

const benchRows = 100_000

var benchHeader = []string{"序号", "人员编号", "户编号", "姓名", "证件号码", "与户主关系", "行政区划代码", "贫困户状态",
	"状态变更日期", "脱贫年度", "主要致贫原因", "次要致贫原因", "贫困户属性", "是否残疾", "注销标志"}

func benchRow(i int) []string {
	return []string{fmt.Sprint(i + 1), fmt.Sprintf("P3702821012%08d", i), fmt.Sprintf("37021510120%05d", i/4), "张德山",
		fmt.Sprintf("370282195001%06d", i), "之子", "370215101201", "未脱贫", "2016-03-01", "", "因病", "缺劳力", "低保贫困户", "否", "否"}
}

func writeBenchXLSX(b *testing.B, path string) {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	row := make([]any, len(benchHeader))
	for i, h := range benchHeader {
		row[i] = h
	}
	_ = sw.SetRow("A1", row)
	date, _ := f.NewStyle(&excelize.Style{NumFmt: 14})
	for i := range benchRows {
		for k, v := range benchRow(i) {
			row[k] = v
		}
		row[8] = excelize.Cell{StyleID: date, Value: 42430}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
}

func writeBenchCSV(b *testing.B, path string) {
	var sb strings.Builder
	sb.WriteString(strings.Join(benchHeader, ",") + "\n")
	for i := range benchRows {
		sb.WriteString(strings.Join(benchRow(i), ",") + "\n")
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRead reads a 100,000-row roster through the source, in batches
// of 5,000 as the pipeline asks, and reports rows/s and the peak of the
// live heap while reading (sampled after each batch; the batch itself,
// 5,000 rows of 18 values, is part of it).
func BenchmarkRead(b *testing.B) {
	for _, format := range []string{"xlsx", "csv"} {
		b.Run(format, func(b *testing.B) {
			dir := b.TempDir()
			name := "花名册." + format
			if format == "xlsx" {
				writeBenchXLSX(b, filepath.Join(dir, name))
			} else {
				writeBenchCSV(b, filepath.Join(dir, name))
			}
			st := connectors.Stream{Name: "roster", Table: "花名册.*", Mode: "incremental", TimestampColumn: ColumnFileTime,
				KeyColumns: []string{"人员编号"}, Columns: benchHeader[1:]}
			var peak uint64
			var ms runtime.MemStats
			b.ReportAllocs()
			for b.Loop() {
				s, err := New("bench", Config{Dir: dir, QuietPeriod: time.Nanosecond}, nil)
				if err != nil {
					b.Fatal(err)
				}
				clock := time.Now()
				s.now = func() time.Time { clock = clock.Add(time.Second); return clock }
				rows := 0
				_, _ = s.Read(context.Background(), st, "", 5000) // first sight: not yet stable
				b2, err := s.Read(context.Background(), st, "", 5000)
				for err == nil && b2.Len() > 0 {
					rows += b2.Len()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
					if b2.Len() < 5000 {
						break
					}
					b2, err = s.Read(context.Background(), st, b2.Next, 5000)
				}
				if err != nil || rows != benchRows {
					b.Fatalf("read %d rows: %v", rows, err)
				}
				_ = s.Close()
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
