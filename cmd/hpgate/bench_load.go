package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hpgate/hpgate/mappings/normalize"
)

// benchTable is the legacy settlement table of the bench mapping.
const benchTable = "YB_JSXX"

// benchColumns are its 21 columns, in order (as mappings/bench_test.go's
// benchBatch has them).
var benchColumns = []string{"JSID", "JZID", "SFZH", "YYBM", "YYDJ", "JZLX", "JSSJ", "ZDDM", "ZFY", "ZCFY",
	"ZWFY", "QFX", "TCZF", "DBZF", "JZZF", "DDZF", "GRZF", "CXBZ", "GXSJ", "XM", "BZ"}

// benchDDL creates the table. Money columns hold fen (the mapping reads
// them with unit: fen). The cursor index (GXSJ, JSID) is added after the
// load: InnoDB builds it sorted, much faster than row by row.
const benchDDL = "CREATE TABLE " + benchTable + ` (
  JSID VARCHAR(20) NOT NULL,
  JZID VARCHAR(20) NOT NULL,
  SFZH VARCHAR(18) NOT NULL,
  YYBM VARCHAR(20) NOT NULL,
  YYDJ CHAR(1) NOT NULL,
  JZLX VARCHAR(2) NOT NULL,
  JSSJ DATETIME NOT NULL,
  ZDDM VARCHAR(20) NULL,
  ZFY DECIMAL(14,0) NOT NULL,
  ZCFY DECIMAL(14,0) NOT NULL,
  ZWFY DECIMAL(14,0) NOT NULL,
  QFX DECIMAL(14,0) NOT NULL,
  TCZF DECIMAL(14,0) NOT NULL,
  DBZF DECIMAL(14,0) NOT NULL,
  JZZF DECIMAL(14,0) NOT NULL,
  DDZF DECIMAL(14,0) NOT NULL,
  GRZF DECIMAL(14,0) NOT NULL,
  CXBZ CHAR(1) NOT NULL DEFAULT '0',
  GXSJ DATETIME NOT NULL,
  XM VARCHAR(30) NULL,
  BZ VARCHAR(200) NULL,
  PRIMARY KEY (JSID)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`

const benchIndexDDL = "ALTER TABLE " + benchTable + " ADD INDEX IX_YB_JSXX_GXSJ (GXSJ, JSID)"

// Loading: multi-row INSERTs of benchRowsPerInsert rows, committed every
// benchInsertsPerTx statements, on benchLoaders connections while one
// goroutine generates the rows.
const (
	benchRowsPerInsert = 1000
	benchInsertsPerTx  = 25
	benchLoaders       = 2
)

// loadBenchTable creates the table and fills it with n generated rows.
func loadBenchTable(ctx context.Context, db *sql.DB, n int) error {
	if _, err := db.ExecContext(ctx, benchDDL); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan []string, benchLoaders)
	errs := make(chan error, benchLoaders)
	var wg sync.WaitGroup
	for range benchLoaders {
		wg.Go(func() {
			for stmts := range work {
				if err := execTx(ctx, db, stmts); err != nil {
					errs <- err
					cancel()
					for range work { // let the generator finish
					}
					return
				}
			}
		})
	}
	gen := newBenchGen(n, time.Now())
	var tx []string
	for i := 0; i < n && ctx.Err() == nil; i += benchRowsPerInsert {
		tx = append(tx, gen.insert(min(benchRowsPerInsert, n-i)))
		if len(tx) == benchInsertsPerTx || i+benchRowsPerInsert >= n {
			select {
			case work <- tx:
			case <-ctx.Done():
			}
			tx = nil
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return fmt.Errorf("load: %w", err)
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if _, err := db.ExecContext(ctx, benchIndexDDL); err != nil {
		return fmt.Errorf("create the cursor index: %w", err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+benchTable); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

func execTx(ctx context.Context, db *sql.DB, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// warmBenchTable reads the whole table through the clustered index and
// the cursor index, so that neither measured run pays for cold pages, and
// returns the table's size in bytes (data and indexes).
func warmBenchTable(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+benchTable+" WHERE ZFY >= 0 OR BZ IS NOT NULL").Scan(&n); err != nil {
		return 0, err
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+benchTable+" FORCE INDEX (IX_YB_JSXX_GXSJ) WHERE GXSJ > '1000-01-01'").Scan(&n); err != nil {
		return 0, err
	}
	var size int64
	err := db.QueryRowContext(ctx, "SELECT DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", benchTable).Scan(&size)
	return size, err
}

// benchGen generates settlement rows in update-time order: distinct,
// increasing JSIDs; GXSJ spread over the year before now (the last hour
// left out), with about 30% of the rows sharing the timestamp of the row
// before (runs of equal timestamps, some across page boundaries); valid
// GB 11643 ID numbers of a pool of people who settle several times.
type benchGen struct {
	rng     *rand.Rand
	row     int
	persons int
	ts, end int64 // unix seconds, read as +08:00 wall clocks
	meanGap int64
	buf     []byte
}

var benchZone = time.FixedZone("+08:00", 8*3600)

func newBenchGen(n int, now time.Time) *benchGen {
	end := now.Add(-time.Hour).Unix()
	start := end - 365*24*3600
	return &benchGen{
		rng:     rand.New(rand.NewPCG(20240601, uint64(n))),
		persons: max(n/3, 1000),
		ts:      start,
		end:     end,
		meanGap: max(1, (end-start)*95/(70*int64(max(n, 1)))), // 5% short of the span
	}
}

var (
	benchRegions   = []string{"370282", "370281", "370283", "370211", "370212"}
	benchSurnames  = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"}
	benchGiven     = []string{"伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英"}
	benchDiagnoses = []string{"I10", "E11.9", "J18.0", "J06.9", "K29.7", "I63.9", "N18.5", "C34.9", "M54.5", "I25.1", "J44.1", "E78.5", "K80.2", "S72.0", "O80.0"}
	benchRemarks   = []string{"异地就医备案", "门诊慢特病", "大病保险二次报销", "医疗救助对象", "脱贫人口", "手工报销补录"}
)

// insert returns one multi-row INSERT of the next n rows.
func (g *benchGen) insert(n int) string {
	b := g.buf[:0]
	b = append(b, "INSERT INTO "+benchTable+" ("...)
	b = append(b, strings.Join(benchColumns, ", ")...)
	b = append(b, ") VALUES "...)
	for k := range n {
		if k > 0 {
			b = append(b, ',')
		}
		b = g.appendRow(b)
	}
	g.buf = b
	return string(b)
}

func (g *benchGen) appendRow(b []byte) []byte {
	r := g.rng
	i := g.row
	g.row++
	if i == 0 || r.IntN(10) >= 3 {
		g.ts = min(g.end, g.ts+1+r.Int64N(2*g.meanGap))
	}
	person := r.IntN(g.persons)
	jzlx, level := "11", byte('1'+r.IntN(3))
	var total int64
	switch x := r.IntN(10); {
	case x < 7:
		total = 1000 + r.Int64N(49000)
	case x < 9:
		jzlx, level = "21", byte('2'+r.IntN(4))
		total = 200000 + r.Int64N(4800000)
	default:
		jzlx = "15"
		total = 5000 + r.Int64N(95000)
	}
	excluded := total * int64(5+r.IntN(11)) / 100
	inScope := total - excluded
	var deductible, critical int64
	if jzlx == "21" {
		deductible = min(50000, inScope)
	}
	base := inScope - deductible
	basic := base * 60 / 100
	if jzlx == "21" {
		critical = base * 10 / 100
	}
	var assistance, backstop int64
	if person%10 == 0 { // people in the poverty register
		assistance = base * 5 / 100
		backstop = base * 2 / 100
	}
	own := total - basic - critical - assistance - backstop

	b = append(b, "('JS"...)
	b = appendPadded(b, int64(i), 12)
	b = append(b, "','JZ"...)
	b = appendPadded(b, int64(i)*7+int64(r.IntN(7)), 12)
	b = append(b, "','"...)
	b = appendIDNumber(b, person)
	b = append(b, "','H370282"...)
	b = appendPadded(b, int64(1+r.IntN(60)), 2)
	b = append(b, "','"...)
	b = append(b, level)
	b = append(b, "','"...)
	b = append(b, jzlx...)
	b = append(b, "','"...)
	b = appendDateTime(b, g.ts-r.Int64N(3*24*3600))
	b = append(b, "',"...)
	if r.IntN(100) < 3 {
		b = append(b, "NULL"...)
	} else {
		b = append(b, '\'')
		b = append(b, benchDiagnoses[r.IntN(len(benchDiagnoses))]...)
		b = append(b, '\'')
	}
	for _, v := range [...]int64{total, inScope, excluded, deductible, basic, critical, assistance, backstop, own} {
		b = append(b, ',')
		b = strconv.AppendInt(b, v, 10)
	}
	if r.IntN(100) == 0 {
		b = append(b, ",'1','"...)
	} else {
		b = append(b, ",'0','"...)
	}
	b = appendDateTime(b, g.ts)
	b = append(b, "','"...)
	b = append(b, benchSurnames[person%len(benchSurnames)]...)
	b = append(b, benchGiven[person/len(benchSurnames)%len(benchGiven)]...)
	if r.IntN(10) < 8 {
		b = append(b, "',NULL)"...)
	} else {
		b = append(b, "','"...)
		b = append(b, benchRemarks[r.IntN(len(benchRemarks))]...)
		b = append(b, "')"...)
	}
	return b
}

// appendIDNumber appends the 18-character ID number of a person: a
// region, a birth date between 1930 and 2009, a sequence number and the
// GB 11643 check digit.
func appendIDNumber(b []byte, person int) []byte {
	var id [18]byte
	s := id[:0]
	s = append(s, benchRegions[person%len(benchRegions)]...)
	birth := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, person*7919%29000)
	s = birth.AppendFormat(s, "20060102")
	s = appendPadded(s, int64(person%1000), 3)
	s = append(s, normalize.CheckDigit(string(s)))
	return append(b, s...)
}

func appendPadded(b []byte, v int64, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], v, 10)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendDateTime(b []byte, unix int64) []byte {
	return time.Unix(unix, 0).In(benchZone).AppendFormat(b, time.DateTime)
}
