package sqlsource

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
	go_ora "github.com/sijms/go-ora/v2"
	"github.com/sijms/go-ora/v2/converters"
	"github.com/sijms/go-ora/v2/network"
	"golang.org/x/text/encoding/simplifiedchinese"
)

var cst = time.FixedZone("+08:00", 8*3600)

// TestOracleValues converts values shaped as go-ora returns them
// (parameter.go decodePrimValue): NUMBER as its decimal text, CHAR
// padded, DATE and TIMESTAMP as wall clocks labelled with the server's
// zone, TIMESTAMP WITH TIME ZONE as an instant.
func TestOracleValues(t *testing.T) {
	serverZone := time.FixedZone("server", -5*3600) // go-ora labels DATE with the server's zone
	num, err := go_ora.NewNumber(12345.5)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  string
		in   any
		want string
	}{
		{"NUMBER", "623450", "string 623450"},
		{"NUMBER", "6234.5", "string 6234.5"},
		{"NUMBER", "0.01", "string 0.01"},
		{"NUMBER", "12345678901234567890123456789012345678", "string 12345678901234567890123456789012345678"},
		{"NUMBER", *num, "string 12345.5"},
		{"NUMBER", num, "string 12345.5"},
		{"NUMBER", nil, "<nil>"},
		{"CHAR", "H001      ", "string H001"},
		{"CHAR", "张三  ", "string 张三"},
		{"NCHAR", "  kept  ", "string   kept  "}, // VARCHAR2 keeps its blanks
		{"DATE", time.Date(2019, 3, 9, 10, 5, 30, 0, serverZone), "time 2019-03-09T10:05:30+08:00"},
		{"TimeStampDTY", time.Date(2019, 3, 9, 10, 5, 30, 123456789, time.UTC), "time 2019-03-09T10:05:30.123456789+08:00"},
		{"TimeStampTZ_DTY", time.Date(2019, 3, 9, 2, 5, 30, 0, time.UTC), "time 2019-03-09T10:05:30+08:00"},
		{"TIMESTAMPTZ", time.Date(2019, 3, 9, 10, 5, 30, 0, time.FixedZone("", 9*3600)), "time 2019-03-09T09:05:30+08:00"},
		{"RAW", []byte{0xd5, 0xc5}, "[]uint8 d5c5"},
		{"OCIClobLocator", "长文本", "string 长文本"},
	} {
		conv := oracleValue(tc.typ, cst)
		got := tc.in
		if conv != nil {
			got = conv(tc.in)
		}
		if s := describeValue(got); s != tc.want {
			t.Errorf("%s %#v: got %s, want %s", tc.typ, tc.in, s, tc.want)
		}
	}
}

// TestOracleCharsets decodes ZHS16GBK and AL32UTF8 bytes through the
// converters go-ora picks by the server's character set id (852, 873), as
// it does for every VARCHAR2, CHAR and CLOB value.
func TestOracleCharsets(t *testing.T) {
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte("张三·即墨区"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   int
		in   []byte
	}{
		{"ZHS16GBK", 852, gbk},
		{"AL32UTF8", 873, []byte("张三·即墨区")},
	} {
		conv := converters.NewStringConverter(tc.id)
		if conv == nil {
			t.Fatalf("%s: go-ora has no converter", tc.name)
		}
		if got := conv.Decode(tc.in); got != "张三·即墨区" {
			t.Errorf("%s: decoded %q", tc.name, got)
		}
		if got := conv.Encode("张三·即墨区"); string(got) != string(tc.in) {
			t.Errorf("%s: a bound string is encoded % x, want % x", tc.name, got, tc.in)
		}
	}
}

// TestSQLServerValues converts values shaped as go-mssqldb returns them
// (types.go): decimals and money as []byte text, uniqueidentifier as its
// 16 wire bytes, datetime as a UTC-labelled wall clock, datetimeoffset
// as an instant, CHAR padded, VARCHAR already decoded from its code page.
func TestSQLServerValues(t *testing.T) {
	guid := []byte{0xff, 0x19, 0x96, 0x6f, 0x86, 0x8b, 0x11, 0xd0, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, 0xff}
	for _, tc := range []struct {
		typ  string
		in   any
		want string
	}{
		{"DECIMAL", []byte("6234.50"), "[]uint8 6234.50"},
		{"MONEY", []byte("12.3400"), "[]uint8 12.3400"},
		{"UNIQUEIDENTIFIER", guid, "string 6F9619FF-8B86-D011-B42D-00C04FC964FF"},
		{"UNIQUEIDENTIFIER", nil, "<nil>"},
		{"DATETIME", time.Date(2019, 3, 9, 10, 5, 30, 3000000, time.UTC), "time 2019-03-09T10:05:30.003+08:00"},
		{"DATETIME2", time.Date(2019, 3, 9, 10, 5, 30, 1234567, time.UTC), "time 2019-03-09T10:05:30.001234567+08:00"},
		{"SMALLDATETIME", time.Date(2019, 3, 9, 10, 5, 0, 0, time.UTC), "time 2019-03-09T10:05:00+08:00"},
		{"DATE", time.Date(2019, 3, 9, 0, 0, 0, 0, time.UTC), "time 2019-03-09T00:00:00+08:00"},
		{"DATETIMEOFFSET", time.Date(2019, 3, 9, 10, 5, 30, 0, time.FixedZone("", 0)), "time 2019-03-09T18:05:30+08:00"},
		{"CHAR", "H001  ", "string H001"},
		{"NCHAR", "张三  ", "string 张三"},
		{"VARCHAR", "张三 ", "string 张三 "},
		{"BIGINT", int64(42), "int64 42"},
	} {
		conv := sqlserverValue(tc.typ, cst)
		got := tc.in
		if conv != nil {
			got = conv(tc.in)
		}
		if s := describeValue(got); s != tc.want {
			t.Errorf("%s %#v: got %s, want %s", tc.typ, tc.in, s, tc.want)
		}
	}
	// The canonical text is the one SQL Server prints, the same as
	// mssql.UniqueIdentifier's.
	var u mssql.UniqueIdentifier
	if err := u.Scan("6F9619FF-8B86-D011-B42D-00C04FC964FF"); err != nil || guidText(guid) != u.String() {
		t.Errorf("guid %v: %s vs %s", err, guidText(guid), u.String())
	}
}

func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "<nil>"
	case time.Time:
		return "time " + v.Format(time.RFC3339Nano)
	case []byte:
		if strings.ContainsFunc(string(v), func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return fmt.Sprintf("[]uint8 %x", v)
		}
		return "[]uint8 " + string(v)
	}
	return fmt.Sprintf("%T %v", v, v)
}

func TestOracleSQLServerTransient(t *testing.T) {
	for code, want := range map[int]bool{3113: true, 3114: true, 12541: true, 12170: true, 12514: true, 1089: true, 28: true, 60: true, 942: false, 904: false, 1017: false, 1: false} {
		err := fmt.Errorf("read: %w", &network.OracleError{ErrCode: code})
		if got := (oracleDialect{}).transient(err); got != want {
			t.Errorf("ORA-%05d: got %v, want %v", code, got, want)
		}
	}
	for number, want := range map[int32]bool{1205: true, 1222: true, -2: true, 10054: true, 40613: true, 208: false, 207: false, 18456: false, 4060: false} {
		err := fmt.Errorf("read: %w", mssql.Error{Number: number})
		if got := (sqlserverDialect{}).transient(err); got != want {
			t.Errorf("SQL Server %d: got %v, want %v", number, got, want)
		}
	}
	if !(sqlserverDialect{}).transient(mssql.StreamError{InnerError: errors.New("bad")}) {
		t.Error("a broken TDS stream is an outage")
	}
}

func TestServerVersions(t *testing.T) {
	o, err := oracleDialect{}.configure(cst, "auto")
	if err != nil || o.(versioned).versionKnown() {
		t.Fatalf("oracle auto: %v %v", o, err)
	}
	for v, wantFetch := range map[any]bool{"19.0.0.0.0": true, "12.1.0.2.0": true, "11.2.0.4.0": false, nil: false} {
		d, err := o.(versioned).withServerVersion(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(d.limit("SELECT 1 FROM DUAL ORDER BY 1", 5), "FETCH FIRST 5 ROWS ONLY"); got != wantFetch {
			t.Errorf("oracle %v: FETCH FIRST %v, want %v", v, got, wantFetch)
		}
	}
	s, _ := sqlserverDialect{}.configure(cst, "")
	for _, c := range []struct {
		v          any
		wantOffset bool
	}{{[]byte("15.0.2000.5"), true}, {"11.0.7001.0", true}, {"10.50.6000.34", false}, {nil, false}} {
		v, wantOffset := c.v, c.wantOffset
		d, err := s.(versioned).withServerVersion(v)
		if err != nil {
			t.Fatal(err)
		}
		got := d.limit("SELECT a FROM t ORDER BY a", 5)
		if strings.Contains(got, "OFFSET 0 ROWS FETCH NEXT 5 ROWS ONLY") != wantOffset || strings.HasPrefix(got, "SELECT TOP (5) a FROM") == wantOffset {
			t.Errorf("sqlserver %v: %s", v, got)
		}
	}
	for _, bad := range []struct {
		d dialect
		v string
	}{{oracleDialect{}, "10"}, {oracleDialect{}, "12c"}, {sqlserverDialect{}, "2005"}} {
		if _, err := bad.d.(configurable).configure(cst, bad.v); err == nil {
			t.Errorf("%T accepted server_version %q", bad.d, bad.v)
		}
	}
	if d, err := (sqlserverDialect{}).configure(cst, "2008R2"); err != nil || !strings.HasPrefix(d.limit("SELECT a FROM t", 3), "SELECT TOP (3) ") {
		t.Errorf("2008R2: %v", err)
	}
}

func TestOracleSQLServerOpen(t *testing.T) {
	for _, tc := range []struct {
		d      dialect
		dsn    string
		bad    string // error substring; "" for success
		secret string
	}{
		{oracleDialect{}, "oracle://hp:s3cret@db.invalid:1521/ORCLPDB1", "", ""},
		{oracleDialect{}, "hp/s3cret@db.invalid:1521/ORCLPDB1", "malformed oracle DSN", "s3cret"},
		{oracleDialect{}, "oracle://hp:s3cret@db.invalid:1521/X?lob fetch=post", "lob fetch=post", "s3cret"},
		{sqlserverDialect{}, "sqlserver://hp:s3cret@db.invalid:1433?database=his", "", ""},
		{sqlserverDialect{}, "sqlserver://hp:s3cret@db.invalid:1433?database=his&guid+conversion=true", "guid conversion", "s3cret"},
		{sqlserverDialect{}, "sqlserver://hp:s3cret@db.invalid:notaport?database=his", "malformed sqlserver DSN", "s3cret"},
	} {
		db, err := tc.d.open(tc.dsn, cst)
		if tc.bad == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.dsn, err)
				continue
			}
			_ = db.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.bad) || strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s: got %v, want an error about %q without the password", tc.dsn, err, tc.bad)
		}
	}
}
