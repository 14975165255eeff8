package dlq

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/pii"
)

func TestMessageMasksAndSeals(t *testing.T) {
	ms, err := mappings.Load(mappings.Options{}, "../../mappings/testdata/bench/settlement.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	cols := []string{"JSID", "JZID", "SFZH", "YYBM", "YYDJ", "JZLX", "JSSJ", "ZDDM", "ZFY", "ZCFY", "ZWFY", "QFX", "TCZF", "DBZF", "JZZF", "DDZF", "GRZF", "CXBZ", "GXSJ"}
	row := []any{"JS1", "JZ1", "110105194912310021", "H1", "2", "21", "2019-03-01 10:00:00", "I10", "100", "1", "1", "1", "1", "1", "1", "1", "1", "0", "2019-03-01 10:00:05"}
	b := &connectors.Batch{Columns: cols, Rows: [][]any{row}}
	var res mappings.Result
	if err := m.Apply(b, &res, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(res.Rejections) != 1 {
		t.Fatalf("rejections %v", res.Rejections)
	}
	key := pii.TestKey()
	msg, err := Message(m, key, Topic("hp."), "ins", b, &res.Rejections[0], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Topic != "hp.dlq.v1" || string(msg.Key) != "bench-ins-settlement:2019-03-01 10:00:05|JS1" {
		t.Errorf("topic %s key %s", msg.Topic, msg.Key)
	}
	if err := canonical.ValidateDLQ(msg.Value); err != nil {
		t.Fatalf("invalid DLQ value: %v\n%s", err, msg.Value)
	}
	if bytes.Contains(msg.Value, []byte("110105194912310021")) || bytes.Contains(msg.Value, []byte("19491231")) {
		t.Fatalf("clear ID in DLQ value: %s", msg.Value)
	}
	v, gcols, grow, err := Open(key, msg.Value)
	if err != nil {
		t.Fatal(err)
	}
	if v.Code != "bad_check_digit" || v.Field != "person_key" || v.Row["SFZH"] != "110105********0021" {
		t.Errorf("value %+v", v)
	}
	if !reflect.DeepEqual(gcols, cols) || !reflect.DeepEqual(grow, row) {
		t.Errorf("raw row not restored: %v", grow)
	}
}
