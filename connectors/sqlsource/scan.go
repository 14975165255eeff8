package sqlsource

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/hpgate/hpgate/connectors"
)

// Allocation sizes of a batch. Rows are carved from slabs of slabRows rows
// and byte values copied into arenas of arenaSize bytes, so rows and copies
// cost a few large allocations per page. What remains per value is the
// boxing of a []byte into an interface, and per row its position string.
const (
	slabRows  = 256
	arenaSize = 64 << 10
)

// batchScanner fills one Batch from one result set. It is the scan buffer:
// one value cell per column, reused for every row.
//
// database/sql hands a Scanner the driver's own value, so []byte values
// arrive aliasing the driver's buffer, valid only until the next row (as
// sql.RawBytes would). Data cells copy them into the batch's arena, which
// the Batch then owns; cursor cells keep them only until the row's position
// is encoded, right after Scan.
type batchScanner struct {
	ncols  int      // stream columns; the cursor copies follow them
	cnames []string // cursor column names, for errors

	dest   []any // &cells[i], the Scan arguments
	cells  []cell
	row    []any // the row being scanned
	cursor []any // the cursor values of the row being scanned

	slab   []any
	arena  []byte
	posBuf []byte
}

type cell struct {
	s      *batchScanner
	i      int
	cursor bool
	conv   func(any) any // the dialect's columnValue, or nil
}

// Scan implements sql.Scanner.
func (c *cell) Scan(src any) error {
	s := c.s
	if c.cursor {
		s.cursor[c.i] = src
		return nil
	}
	if c.conv != nil {
		src = c.conv(src)
	}
	if v, ok := src.([]byte); ok {
		s.row[c.i] = s.copyBytes(v)
	} else {
		s.row[c.i] = src // boxed by the driver already: no allocation
	}
	return nil
}

func newBatchScanner(d dialect, zone *time.Location, types []*sql.ColumnType, cursor []string) (*batchScanner, error) {
	ncursor := len(cursor)
	n := len(types) - ncursor
	if n < 0 {
		return nil, fmt.Errorf("result has %d columns, fewer than the %d cursor columns", len(types), ncursor)
	}
	s := &batchScanner{
		ncols:  n,
		cnames: cursor,
		dest:   make([]any, len(types)),
		cells:  make([]cell, len(types)),
		cursor: make([]any, ncursor),
	}
	for i := range s.cells {
		s.cells[i] = cell{s: s, i: i, conv: d.columnValue(types[i], zone)}
		if i >= n {
			s.cells[i] = cell{s: s, i: i - n, cursor: true}
		}
		s.dest[i] = &s.cells[i]
	}
	return s, nil
}

// copyBytes copies a driver-owned value into the arena. The copy's
// capacity is its length, so an append by the caller cannot overwrite the
// next value.
func (s *batchScanner) copyBytes(v []byte) []byte {
	if len(v) > cap(s.arena)-len(s.arena) {
		s.arena = make([]byte, 0, max(arenaSize, len(v)))
	}
	start := len(s.arena)
	s.arena = append(s.arena, v...)
	return s.arena[start:len(s.arena):len(s.arena)]
}

// scanInto reads rows into b, one position per row; limit (the most rows
// the statement can return) sizes the allocations.
func (s *batchScanner) scanInto(rows *sql.Rows, b *connectors.Batch, limit int) error {
	for rows.Next() {
		if len(s.slab) < s.ncols {
			s.slab = make([]any, min(slabRows, max(limit-len(b.Rows), 1))*s.ncols)
		}
		s.row = s.slab[:s.ncols:s.ncols]
		s.slab = s.slab[s.ncols:]
		if err := rows.Scan(s.dest...); err != nil {
			return err
		}
		var err error
		s.posBuf, err = appendPosition(s.posBuf[:0], s.cursor)
		if err != nil {
			for i, v := range s.cursor {
				if v == nil {
					err = fmt.Errorf("%s: %w", s.cnames[i], err)
					break
				}
			}
			return fmt.Errorf("row %d of the page: %w", len(b.Rows)+1, err)
		}
		clear(s.cursor) // drop references to driver memory
		b.Rows = append(b.Rows, s.row)
		b.Positions = append(b.Positions, connectors.Position(s.posBuf))
	}
	return rows.Err()
}
