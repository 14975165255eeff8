package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	f.IntVar(&o.batch, "batch-size", 5000, "rows per page and per write")
	f.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the loop to this file")
	return cmd
}

type baselineOptions struct {
	dsn, brokers, topic string
	rows, batch         int
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
			v, err := json.Marshal(&s)
			if err != nil {
				rows.Close()
				return benchResult{}, err
			}
			msgs = append(msgs, kafka.Message{Key: []byte(s.SFZH), Value: v})
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
