package config

import (
	"fmt"
	"os"
	"time"

	"github.com/hpgate/hpgate/mappings/yamlfile"
)

// Identity configures `hpgate identity`, the consumer group that runs the
// identity view, discrepancy and policy stages over the canonical topics.
// Its state lives in state.dir/identity.db (beside the gateway's
// state.db): one identity instance per state directory.
type Identity struct {
	// GroupID is the Kafka consumer group; every instance of one
	// deployment uses the same. The default is "hpgate-identity".
	GroupID string `yaml:"group_id"`
	// PolicyPaths are files or directories holding the county policy files
	// (kind: policy: grace period, authority per fact, rule thresholds,
	// disease lists), relative to the config file. The default is the
	// mapping paths, so a county pack carries its policy.
	PolicyPaths []string `yaml:"policy_paths"`
	// GracePeriod is how long a system may take to follow the registry
	// before a discrepancy is raised, for counties whose policy file does
	// not say. The default is 72h.
	GracePeriod time.Duration `yaml:"grace_period"`
	// SweepInterval is how often the time-driven checks are re-evaluated.
	// The default is 1m.
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the
	// consumer group. The defaults are 45s, 3s and 60s.
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	RebalanceTimeout  time.Duration `yaml:"rebalance_timeout"`
	// MaxPollRecords bounds the records handled per state transaction and
	// output write. The default is 2000.
	MaxPollRecords int `yaml:"max_poll_records"`
	// Listen is the identity process's own /metrics, /healthz and /readyz
	// listener (it runs beside `hpgate run`, which has http.listen). The
	// default is 127.0.0.1:9465; "off" disables it.
	Listen string `yaml:"listen"`
}

// Defaults of the identity block.
const (
	DefaultIdentityGroup = "hpgate-identity"
	DefaultGracePeriod   = 72 * time.Hour
	DefaultSweep         = time.Minute
	DefaultIdentityAddr  = "127.0.0.1:9465"
)

func (c *Config) identityDefaults() {
	id := &c.Identity
	if id.GroupID == "" {
		id.GroupID = DefaultIdentityGroup
	}
	if id.GracePeriod == 0 {
		id.GracePeriod = DefaultGracePeriod
	}
	if id.SweepInterval == 0 {
		id.SweepInterval = DefaultSweep
	}
	if id.MaxPollRecords == 0 {
		id.MaxPollRecords = 2000
	}
	switch id.Listen {
	case "":
		id.Listen = DefaultIdentityAddr
	case "off":
		id.Listen = ""
	}
}

func (c *Config) identityValidate() yamlfile.Errors {
	var errs yamlfile.Errors
	id := &c.Identity
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"grace_period", id.GracePeriod}, {"sweep_interval", id.SweepInterval}, {"session_timeout", id.SessionTimeout},
		{"heartbeat_interval", id.HeartbeatInterval}, {"rebalance_timeout", id.RebalanceTimeout}} {
		if d.v < 0 {
			errs = append(errs, c.errorf([]string{"identity", d.key}, "identity %s must be positive", d.key))
		}
	}
	if id.HeartbeatInterval > 0 && id.SessionTimeout > 0 && id.HeartbeatInterval >= id.SessionTimeout {
		errs = append(errs, c.errorf([]string{"identity", "heartbeat_interval"}, "heartbeat_interval must be shorter than session_timeout"))
	}
	if id.MaxPollRecords < 0 || id.MaxPollRecords > 100000 {
		errs = append(errs, c.errorf([]string{"identity", "max_poll_records"}, "max_poll_records must be between 1 and 100000"))
	}
	if !reTopic.MatchString(id.GroupID) {
		errs = append(errs, c.errorf([]string{"identity", "group_id"}, "group_id may hold only letters, digits, '.', '_' and '-'"))
	}
	for i, p := range id.PolicyPaths {
		if _, err := os.Stat(c.Resolve(p)); err != nil {
			errs = append(errs, c.errorf([]string{"identity", "policy_paths", fmt.Sprint(i)}, "policy path %s: %v", p, errNoPath(err)))
		}
	}
	return errs
}

// PolicyPaths returns where the county policy files are, resolved against
// the config file: identity.policy_paths, or the mapping paths.
func (c *Config) PolicyPaths() []string {
	if len(c.Identity.PolicyPaths) == 0 {
		return c.MappingPaths()
	}
	out := make([]string, len(c.Identity.PolicyPaths))
	for i, p := range c.Identity.PolicyPaths {
		out[i] = c.Resolve(p)
	}
	return out
}
