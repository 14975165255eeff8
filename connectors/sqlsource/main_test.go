package sqlsource_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/hpgate/hpgate/connectors/connectortest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(connectortest.WrapMain(m))
}
