package main

import (
	"context"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// systemd integration (deploy/systemd/hpgate*.service are Type=notify with
// WatchdogSec), shared by `hpgate run`, `hpgate identity` and `hpgate
// writeback`: READY=1 once the process is loaded and its listener is up,
// WATCHDOG=1 at half the watchdog interval while it runs, and STOPPING=1
// on shutdown. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.

func notifyReady(log *slog.Logger) {
	if _, err := sd.SdNotify(false, sd.SdNotifyReady); err != nil {
		log.Warn("cannot notify systemd", "err", err)
	}
}

func notifyStopping() {
	_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
}

// watchdog pings systemd's watchdog until ctx is done. A process that is
// wedged stops pinging and systemd restarts it; a mapping that is merely
// stopped is reported by /status and the metrics instead.
func watchdog(ctx context.Context, log *slog.Logger) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := sd.SdNotify(false, sd.SdNotifyWatchdog); err != nil {
				log.Warn("cannot ping the systemd watchdog", "err", err)
			}
		}
	}
}
