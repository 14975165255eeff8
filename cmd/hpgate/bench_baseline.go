package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"
)

// benchBaselineCmd is the hidden `hpgate bench-baseline`: the plain loop
// hpgate is measured against, run by `hpgate bench` in a child process of
// its own so that its peak RSS is its own. It prints one benchResult line
// of JSON.
func benchBaselineCmd() *cobra.Command {
	var o baselineOptions
	var cpuprofile string
	cmd := &cobra.Command{
		Use:    "bench-baseline",
		Short:  "The hand-written loop of `hpgate bench` (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchChild(cmd, cpuprofile, func(ctx context.Context) (benchResult, error) {
				return runBaseline(ctx, o)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dsn, "dsn", "", "go-sql-driver DSN of the bench database")
	f.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap address")
	f.StringVar(&o.topic, "topic", "", "topic to write")
	f.IntVar(&o.rows, "rows", 0, "rows in the table")
	f.IntVar(&o.batch, "batch-size", 2000, "rows per page and per write")
	f.BoolVar(&o.envelope, "envelope", false, "write each row in hpgate's envelope (id, source, times, SHA-256 hash, HMAC key) instead of the bare row")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the loop to this file")
	return cmd
}

type baselineOptions struct {
	dsn, brokers, topic string
	rows, batch         int
	envelope            bool
}

// settlement is one row of the table as a hand-written loop would model
// it: every column, text as strings, money as JSON numbers.
type settlement struct {
	JSID string      `json:"jsid"`
	JZID string      `json:"jzid"`
	SFZH string      `json:"sfzh"`
	YYBM string      `json:"yybm"`
	YYDJ string      `json:"yydj"`
	JZLX string      `json:"jzlx"`
	JSSJ string      `json:"jssj"`
	ZDDM *string     `json:"zddm"`
	ZFY  json.Number `json:"zfy"`
	ZCFY json.Number `json:"zcfy"`
	ZWFY json.Number `json:"zwfy"`
	QFX  json.Number `json:"qfx"`
	TCZF json.Number `json:"tczf"`
	DBZF json.Number `json:"dbzf"`
	JZZF json.Number `json:"jzzf"`
	DDZF json.Number `json:"ddzf"`
	GRZF json.Number `json:"grzf"`
	CXBZ string      `json:"cxbz"`
	GXSJ string      `json:"gxsj"`
	XM   *string     `json:"xm"`
	BZ   *string     `json:"bz"`
}

func (s *settlement) dest() []any {
	return []any{&s.JSID, &s.JZID, &s.SFZH, &s.YYBM, &s.YYDJ, &s.JZLX, &s.JSSJ, &s.ZDDM, &s.ZFY, &s.ZCFY,
		&s.ZWFY, &s.QFX, &s.TCZF, &s.DBZF, &s.JZZF, &s.DDZF, &s.GRZF, &s.CXBZ, &s.GXSJ, &s.XM, &s.BZ}
}

// runBaseline reads the table page by page with the expanded keyset
// predicate, marshals each row with encoding/json and writes each page with
// one kafka-go WriteMessages call (lz4, acks=all, keyed by the ID number),
// until a short page.
func runBaseline(ctx context.Context, o baselineOptions) (benchResult, error) {
	if o.dsn == "" || o.brokers == "" || o.topic == "" {
		return benchResult{}, errors.New("--dsn, --brokers and --topic are required")
	}
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return benchResult{}, err
	}
	defer db.Close()
	query := "SELECT " + strings.Join(benchColumns, ", ") + " FROM " + benchTable +
		" WHERE GXSJ > ? OR (GXSJ = ? AND JSID > ?) ORDER BY GXSJ, JSID LIMIT ?"
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return benchResult{}, err
	}
	defer stmt.Close()
	w := &kafka.Writer{
		Addr:         kafka.TCP(strings.Split(o.brokers, ",")...),
		Topic:        o.topic,
		Balancer:     &kafka.Murmur2Balancer{},
		Compression:  kafka.Lz4,
		RequiredAcks: kafka.RequireAll,
		BatchSize:    o.batch,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()

	env := newBaselineEnvelope()
	start := time.Now()
	lastTS, lastID := "1000-01-01 00:00:00", ""
	msgs := make([]kafka.Message, 0, o.batch)
	var total int64
	var readMap, write time.Duration
	for {
		t0 := time.Now()
		rows, err := stmt.QueryContext(ctx, lastTS, lastTS, lastID, o.batch)
		if err != nil {
			return benchResult{}, err
		}
		msgs = msgs[:0]
		var s settlement
		for rows.Next() {
			s = settlement{}
			if err := rows.Scan(s.dest()...); err != nil {
				rows.Close()
				return benchResult{}, err
			}
			key, v, err := []byte(s.SFZH), []byte(nil), error(nil)
			if o.envelope {
				key, v, err = env.marshal(&s)
			} else {
				v, err = json.Marshal(&s)
			}
			if err != nil {
				rows.Close()
				return benchResult{}, err
			}
			msgs = append(msgs, kafka.Message{Key: key, Value: v})
		}
		if err := rows.Err(); err != nil {
			return benchResult{}, err
		}
		rows.Close()
		t1 := time.Now()
		readMap += t1.Sub(t0)
		if len(msgs) > 0 {
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				return benchResult{}, fmt.Errorf("write: %w", err)
			}
			write += time.Since(t1)
			lastTS, lastID = s.GXSJ, s.JSID
			total += int64(len(msgs))
		}
		if len(msgs) < o.batch {
			break
		}
	}
	return benchResult{Rows: total, Records: total, Seconds: time.Since(start).Seconds(),
		Stages: map[string]float64{"read+map": readMap.Seconds(), "write": write.Seconds()}}, nil
}

// baselineEnvelope is how a hand-written loop would produce the same
// message as hpgate (design.md contract 4) with the standard library: the
// row marshalled as data, its SHA-256, the envelope around it, and the key
// as an HMAC-SHA256 of the ID number. Its values keep the columns' names
// and text; it exists so that the bench can tell the cost of the contract
// (twice the bytes of the bare row to marshal, hash and compress) from
// hpgate's own.
type baselineEnvelope struct {
	mac hash.Hash
}

func newBaselineEnvelope() *baselineEnvelope {
	return &baselineEnvelope{mac: hmac.New(sha256.New, []byte("hpgate bench baseline key, 32+ bytes"))}
}

type envelopeSource struct {
	System    string `json:"system"`
	Connector string `json:"connector"`
	Mapping   string `json:"mapping"`
	Position  string `json:"position"`
}

type envelopeValue struct {
	Schema     string          `json:"schema"`
	ID         string          `json:"id"`
	Op         string          `json:"op"`
	County     string          `json:"county"`
	Source     envelopeSource  `json:"source"`
	OccurredAt string          `json:"occurred_at"`
	IngestedAt string          `json:"ingested_at"`
	Hash       string          `json:"hash"`
	Data       json.RawMessage `json:"data"`
}

func (e *baselineEnvelope) marshal(s *settlement) (key, value []byte, err error) {
	data, err := json.Marshal(s)
	if err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(data)
	e.mac.Reset()
	e.mac.Write([]byte(s.SFZH))
	key = hex.AppendEncode([]byte("k1:"), e.mac.Sum(nil))
	value, err = json.Marshal(&envelopeValue{
		Schema: "hp.settlement/v1", ID: "insurance:370282:" + s.JSID, Op: "upsert", County: "370282",
		Source:     envelopeSource{System: "insurance", Connector: "bench-ins", Mapping: "bench-ins-settlement", Position: s.GXSJ + "|" + s.JSID},
		OccurredAt: s.JSSJ, IngestedAt: time.Now().Format(time.RFC3339),
		Hash: "sha256:" + hex.EncodeToString(sum[:]), Data: data,
	})
	return key, value, err
}
