package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors/registry/registrysim"
	"github.com/hpgate/hpgate/mappings"
)

// registryServer is the registry simulator the demo's registry API
// mappings read, served in-process on a loopback port.
type registryServer struct {
	sim     *registrysim.Sim
	srv     *http.Server
	url     string
	secret  string
	sources []string
}

// registryAPI reports a mapping of the registry API (a resource the
// simulator serves), as opposed to the roster's staging table.
func registryAPI(m *mappings.Mapping) bool {
	return m.System == "registry" && (m.Stream.Table == registrysim.Persons || m.Stream.Table == registrysim.Households)
}

// startRegistry starts the simulator when the pack maps the registry API.
// Its county is the pack's, its population the demo's.
func (c *County) startRegistry(people int) error {
	var county string
	var sources []string
	for _, m := range c.Mappings {
		if registryAPI(m) {
			county = m.County
			if !slices.Contains(sources, m.Source) {
				sources = append(sources, m.Source)
			}
		}
	}
	if len(sources) == 0 {
		return nil
	}
	slices.Sort(sources)
	secret := randomHex(32)
	sim, err := registrysim.New(registrysim.Options{County: county, Persons: people, Secret: []byte(secret)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: registry simulator: %w", err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	c.registry = &registryServer{sim: sim, srv: srv, url: "http://" + ln.Addr().String(), secret: secret, sources: sources}
	return nil
}

// writeRegistry writes the config blocks of the registry API sources and
// their secret file. The look-back re-read is off: the demo counts every
// row it waits for, and a re-read would count rows twice.
func (c *County) writeRegistry(b *strings.Builder) error {
	r := c.registry
	if r == nil {
		return nil
	}
	secretFile := filepath.Join(c.Dir, "registry.secret")
	if err := os.WriteFile(secretFile, []byte(r.secret), 0o600); err != nil {
		return err
	}
	for _, s := range r.sources {
		fmt.Fprintf(b, "  %s:\n    driver: registry\n    url: %q\n    app_key: %s\n    secret_file: %q\n"+
			"    page_size: 100\n    settle_delay: 1s\n    look_back: 0s\n    poll_interval: 200ms\n    batch_size: 500\n",
			s, r.url, registrysim.DefaultAppKey, secretFile)
	}
	return nil
}

// registryRows is what a registry API mapping has to read so far: every
// version of its resource's records.
func (c *County) registryRows(m *mappings.Mapping) (int, bool) {
	if c.registry == nil || !registryAPI(m) {
		return 0, false
	}
	return c.registry.sim.Versions(m.Stream.Table), true
}

// Registry describes the simulator, or returns "" when the pack does not
// map the registry API.
func (c *County) Registry() string {
	r := c.registry
	if r == nil {
		return ""
	}
	return fmt.Sprintf("registry API simulator at %s: %d persons, %d households", r.url,
		r.sim.Count(registrysim.Persons), r.sim.Count(registrysim.Households))
}

func (c *County) mutateRegistry(n int) {
	if c.registry != nil {
		c.registry.sim.Mutate(n)
	}
}

func (c *County) stopRegistry() {
	if c.registry == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.registry.srv.Shutdown(ctx)
	c.registry = nil
}
