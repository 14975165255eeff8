package sqlsource

import "github.com/hpgate/hpgate/connectors"

// PositionOf encodes cursor values (the timestamp first in incremental
// mode, then the key values, as the source's text or numbers) as a
// position, for operators who set a checkpoint by hand.
func PositionOf(vals ...any) (connectors.Position, error) {
	b, err := appendPosition(nil, vals)
	if err != nil {
		return "", err
	}
	return connectors.Position(b), nil
}
