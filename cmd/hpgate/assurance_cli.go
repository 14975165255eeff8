package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/trail"
)

// The data-assurance commands (audit, dlq, replay) act through the running
// daemon's admin endpoint when one runs, as `checkpoint` does, or else open
// the gateway themselves (sources, Kafka, the state store), act, record
// the audit trail and close it.

// trailView is the audit trail as the admin API returns it.
type trailView struct {
	Entries []canonical.Audit `json:"entries"`
	// Broken says where the hash chain does not hold; empty when it does.
	Broken string `json:"broken,omitempty"`
}

// viaDaemon runs remote through a running daemon, or local on a daemon
// opened here (not run: no HTTP, no runners) when none answers.
func viaDaemon(cmd *cobra.Command, configPath string, remote func(*adminClient) error, local func(*daemon) error) error {
	cfg, err := config.LoadFile(configPath)
	if err != nil {
		return reportLoad(cmd.ErrOrStderr(), err)
	}
	if c, ok := dialAdmin(cmd.Context(), cfg); ok {
		c.http.Timeout = 0 // long actions: bounded by the command's context
		return remote(c)
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := openDaemon(configPath, log, prometheus.NewRegistry())
	if errors.Is(err, checkpoint.ErrLocked) {
		return fmt.Errorf("%w; its admin endpoint (http.listen %q) did not answer", err, cfg.HTTP.Listen)
	}
	if err != nil {
		return reportLoad(cmd.ErrOrStderr(), err)
	}
	defer d.close()
	return local(d)
}

// parseDay reads a date (2006-01-02) as noon UTC, which falls on that date
// in every zone a county uses.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return t.Add(12 * time.Hour), nil
}

// parseTime reads a date or a date and time (2006-01-02[ 15:04:05], or
// RFC 3339); a naive value is in zone.
func parseTime(s string, zone *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range []string{time.RFC3339, time.DateTime, "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(l, s, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or RFC 3339", s)
}

// printTrail prints the audit trail, one entry per line.
func printTrail(w io.Writer, v trailView) {
	for _, a := range v.Entries {
		line := fmt.Sprintf("%d\t%s\t%s\t%s", *a.Seq, a.At, a.Operator, a.Action)
		if a.Mapping != "" {
			line += "\t" + a.Mapping
		}
		line += "\t" + a.Result
		if a.Config != "" {
			line += "\tconfig " + a.Config[:len("sha256:")+12]
		}
		if a.Mappings != nil {
			line += fmt.Sprintf("\t%d mappings", len(a.Mappings))
		}
		for _, c := range []struct {
			what  string
			names []string
		}{{"added", a.Added}, {"removed", a.Removed}, {"changed", a.Changed}} {
			if len(c.names) > 0 {
				line += fmt.Sprintf("\t%s %v", c.what, c.names)
			}
		}
		if a.Detail != "" {
			line += "\t" + a.Detail
		}
		fmt.Fprintln(w, line)
	}
	if v.Broken != "" {
		fmt.Fprintln(w, "CHAIN BROKEN:", v.Broken)
	} else {
		fmt.Fprintf(w, "%d entries, hash chain verified\n", len(v.Entries))
	}
}

// trailFrom returns the trail from entry from on, verifying the whole chain.
func trailFrom(t *trail.Trail, from int) (trailView, error) {
	list, err := t.List(1)
	if err != nil {
		return trailView{}, err
	}
	v := trailView{Entries: list}
	if _, err := trail.VerifyEntries(list); err != nil {
		v.Broken = err.Error()
	}
	if from > 1 {
		v.Entries = v.Entries[min(from-1, len(v.Entries)):]
	}
	return v, nil
}

// recordDirect appends an entry to the trail of a store opened without a
// daemon (checkpoint set or reset); the daemon publishes it at its next
// start.
func recordDirect(s *checkpoint.Store, e trail.Entry) {
	if e.Operator == "" {
		e.Operator = trail.Operator("")
	}
	_, _ = trail.Open(s).Append(e)
}
