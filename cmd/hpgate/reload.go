package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hpgate/hpgate/mappings"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/mappings/yamlfile"
	"github.com/hpgate/hpgate/pipeline/trail"
)

// Hot reload: on SIGHUP, and when a file under the mapping paths changes,
// the mapping files are read and checked again and the pipeline is handed
// the new set between two batches. Files are judged by directory (a county
// pack): a directory with any invalid file keeps its previous mappings, so
// one county's bad file never stalls another county. The config file
// itself (sources, Kafka, state) is read only at start.

// reloadDebounce gathers the burst of events an editor or a deploy makes.
const reloadDebounce = 500 * time.Millisecond

// watchReload reloads on SIGHUP and on changes under the mapping paths
// until ctx is done.
func (d *daemon) watchReload(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var events <-chan fsnotify.Event
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("cannot watch the mapping files; reload with SIGHUP", "err", err)
	} else {
		defer w.Close()
		for _, dir := range watchDirs(d.cfg.MappingPaths()) {
			if err := w.Add(dir); err != nil {
				d.log.Warn("cannot watch a mapping directory; reload with SIGHUP", "path", dir, "err", err)
			}
		}
		events = w.Events
	}
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d.reload(ctx, "sighup")
		case ev := <-events:
			if relevant(ev.Name) {
				timer = time.After(reloadDebounce)
			}
		case <-timer:
			timer = nil
			d.reload(ctx, "file change")
		}
	}
}

// watchDirs lists the directories to watch: every directory under the
// mapping paths, and the parent of a path that is a file.
func watchDirs(paths []string) []string {
	var dirs []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			dirs = append(dirs, filepath.Dir(p))
			continue
		}
		_ = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	return dirs
}

func relevant(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch filepath.Ext(base) {
	case ".yaml", ".yml", ".csv":
		return true
	}
	return false
}

// reload reads the mapping files again and swaps in what is valid.
func (d *daemon) reload(ctx context.Context, trigger string) {
	fresh, err := mappings.Load(mappings.Options{Key: d.key}, d.cfg.MappingPaths()...)
	var problems yamlfile.Errors
	if err != nil && !errors.As(err, &problems) {
		problems = yamlfile.Errors{{File: d.cfg.File, Msg: err.Error()}}
	}
	// A directory with an invalid file keeps its previous mappings.
	bad := map[string]bool{}
	for _, p := range problems {
		bad[filepath.Dir(p.File)] = true
	}
	next := make([]*mappings.Mapping, 0, len(fresh))
	for _, m := range fresh {
		if !bad[filepath.Dir(m.File)] {
			next = append(next, m)
		}
	}
	for _, m := range d.current() {
		if bad[filepath.Dir(m.File)] {
			next = append(next, m)
		}
	}
	if err := d.pipe.Reload(next); err != nil {
		problems = append(problems, &yamlfile.PosError{File: d.cfg.File, Msg: err.Error()})
	}
	d.mu.Lock()
	d.mappings = next
	d.mu.Unlock()
	if err := d.ensureTopics(ctx); err != nil {
		problems = append(problems, &yamlfile.PosError{File: d.cfg.File, Msg: err.Error()})
	}
	d.record(ctx, trail.Entry{Action: canonical.AuditReload, Config: d.cfg.File, Mappings: next, Err: problems.Err(),
		Detail: "trigger: " + trigger})
	if len(problems) > 0 {
		for _, p := range problems {
			d.log.Warn("mapping file rejected, its directory keeps the previous mappings", "trigger", trigger, "err", p.Error())
		}
		d.metrics.ReloadOK.Set(0)
		d.metrics.ReloadsTotal.WithLabelValues("failure").Inc()
		return
	}
	d.metrics.ReloadOK.Set(1)
	d.metrics.ReloadsTotal.WithLabelValues("success").Inc()
	d.log.Info("mappings reloaded", "trigger", trigger, "mappings", len(next))
}
