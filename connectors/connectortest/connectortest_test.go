package connectortest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors/connectortest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(connectortest.WrapMain(m))
}

func TestMariaDBGivesEachTestItsOwnDatabase(t *testing.T) {
	names := make([]string, 2)
	for i := range names {
		t.Run("db", func(t *testing.T) {
			db, dsn := connectortest.MariaDB(t)
			if err := db.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&names[i]); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(dsn, names[i]) {
				t.Errorf("dsn %q does not name database %q", dsn, names[i])
			}
			if !strings.Contains(dsn, "charset=utf8mb4") {
				t.Errorf("dsn %q lacks charset=utf8mb4", dsn)
			}
			// The database starts empty, whatever an earlier test left.
			var n int
			if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("fresh database has %d tables", n)
			}
			if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (id INT PRIMARY KEY, at DATETIME)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(t.Context(), "INSERT INTO t VALUES (1, '2019-03-01 10:00:00')"); err != nil {
				t.Fatal(err)
			}
			// parseTime=false: DATETIME arrives as text.
			var at any
			if err := db.QueryRowContext(t.Context(), "SELECT at FROM t").Scan(&at); err != nil {
				t.Fatal(err)
			}
			if b, ok := at.([]byte); !ok || string(b) != "2019-03-01 10:00:00" {
				t.Errorf("DATETIME scanned as %T %v, want []byte 2019-03-01 10:00:00", at, at)
			}
		})
	}
	if names[0] == "" || names[0] == names[1] {
		t.Errorf("database names %q and %q, want two different ones", names[0], names[1])
	}
}

func TestMariaDBDropsDatabaseAfterTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		db, _ := connectortest.MariaDB(t)
		if err := db.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	db, _ := connectortest.MariaDB(t)
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestBrokerRoundTrip(t *testing.T) {
	const topic = "hp.test.v1"
	addr, _ := connectortest.Broker(t, topic)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, k := range []string{"a", "b", "c", "a"} {
		recs = append(recs, &kgo.Record{
			Topic:   topic,
			Key:     []byte(k),
			Value:   []byte("v-" + k),
			Headers: []kgo.RecordHeader{{Key: "schema", Value: []byte("hp.test/v1")}},
		})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		n    int
	}{
		{name: "at least n", n: 4},
		{name: "exact content", n: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := connectortest.ReadAll(t, addr, topic, tc.n, 10*time.Second)
			if len(got) != 4 {
				t.Fatalf("got %d records, want 4", len(got))
			}
			parts := map[string]int32{}
			for i, r := range got {
				if string(r.Value) != "v-"+string(r.Key) {
					t.Errorf("record %d: key %q value %q", i, r.Key, r.Value)
				}
				if v, ok := r.Header("schema"); !ok || string(v) != "hp.test/v1" {
					t.Errorf("record %d: schema header %q, %v", i, v, ok)
				}
				if p, seen := parts[string(r.Key)]; seen && p != r.Partition {
					t.Errorf("key %q in partitions %d and %d", r.Key, p, r.Partition)
				}
				parts[string(r.Key)] = r.Partition
				if i > 0 && got[i-1].Partition == r.Partition && got[i-1].Offset >= r.Offset {
					t.Errorf("records not sorted by partition and offset: %d after %d", r.Offset, got[i-1].Offset)
				}
			}
		})
	}

	// A topic made on first use gets the same partition count.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hp.auto.v1", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := connectortest.ReadAll(t, addr, "hp.auto.v1", 0, 10*time.Second); len(got) != 1 {
		t.Errorf("auto-created topic: got %d records, want 1", len(got))
	}
}

func TestReadAllEmptyTopic(t *testing.T) {
	addr, _ := connectortest.Broker(t, "hp.empty.v1")
	if got := connectortest.ReadAll(t, addr, "hp.empty.v1", 0, 5*time.Second); len(got) != 0 {
		t.Errorf("got %d records from an empty topic", len(got))
	}
}
