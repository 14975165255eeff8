package filedrop

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hpgate/hpgate/connectors"
)

// position is where a stream stands: after the row numbered row (sheet row
// of an XLSX file, line of a CSV record) of the file whose content has the
// SHA-256 hash. The zero position is the start of the drop directory.
//
// The encoded form is "<hex sha256>:<row>". It holds no personal data.
type position struct {
	hash string
	row  int
}

func (p position) encode() connectors.Position {
	return connectors.Position(p.hash + ":" + strconv.Itoa(p.row))
}

func parsePosition(p connectors.Position) (position, error) {
	if p == "" {
		return position{}, nil
	}
	h, r, ok := strings.Cut(string(p), ":")
	row, err := strconv.Atoi(r)
	if !ok || len(h) != 64 || err != nil || row < 0 {
		return position{}, fmt.Errorf("filedrop: position %q is not <sha256>:<row>; reset the mapping's checkpoint", p)
	}
	return position{hash: h, row: row}, nil
}
