package config

import (
	"net"
	"strconv"

	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Writeback configures `hpgate writeback`, the consumer group that copies
// identity flags from their authority into the other systems' tables (see
// package writeback). Its command-line flags override these keys.
type Writeback struct {
	// GroupID is the Kafka consumer group of the identity topic; every
	// instance of one deployment uses the same. The default is
	// "hpgate-writeback" (--group overrides it).
	GroupID string `yaml:"group_id"`
	// Listen is the writeback process's own /metrics, /healthz and
	// /readyz listener (it runs beside `hpgate run` on 9464 and
	// `hpgate identity` on 9465). The default is 127.0.0.1:9466; "off"
	// disables it (--listen overrides it).
	Listen string `yaml:"listen"`
	// RowsPerSecond caps the changes per second of every writeback file
	// that sets no rows_per_second of its own; 0 means the built-in 20
	// (--rows-per-second overrides it).
	RowsPerSecond float64 `yaml:"rows_per_second"`
}

// Defaults of the writeback block.
const (
	DefaultWritebackGroup = "hpgate-writeback"
	DefaultWritebackAddr  = "127.0.0.1:9466"
)

func (c *Config) writebackDefaults() {
	wb := &c.Writeback
	if wb.GroupID == "" {
		wb.GroupID = DefaultWritebackGroup
	}
	switch wb.Listen {
	case "":
		wb.Listen = DefaultWritebackAddr
	case "off":
		wb.Listen = ""
	}
}

func (c *Config) writebackValidate() yamlfile.Errors {
	var errs yamlfile.Errors
	wb := &c.Writeback
	if !reTopic.MatchString(wb.GroupID) {
		errs = append(errs, c.errorf([]string{"writeback", "group_id"}, "group_id may hold only letters, digits, '.', '_' and '-'"))
	}
	if wb.Listen != "" {
		if err := CheckListen(wb.Listen); err != nil {
			errs = append(errs, c.errorf([]string{"writeback", "listen"}, "writeback listen: %v", err))
		}
	}
	if wb.RowsPerSecond < 0 {
		errs = append(errs, c.errorf([]string{"writeback", "rows_per_second"}, "writeback rows_per_second must be positive (or 0 for the default, 20)"))
	}
	return errs
}

// CheckListen checks a listen address: host:port, the host possibly
// empty (every interface), the port a number.
func CheckListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &listenError{addr: addr, msg: "want host:port (e.g. 127.0.0.1:9466) or off"}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return &listenError{addr: addr, msg: "the port must be a number from 0 to 65535"}
	}
	return nil
}

type listenError struct{ addr, msg string }

func (e *listenError) Error() string { return strconv.Quote(e.addr) + ": " + e.msg }
