package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpgate/hpgate/connectors/registry/registrysim"
	"github.com/hpgate/hpgate/connectors/secretsource"
)

func registrySimCmd() *cobra.Command {
	var (
		listen, county, appKey, secretEnv string
		persons, changes                  int
		seed                              uint64
		every                             time.Duration
		faults                            []string
	)
	cmd := &cobra.Command{
		Use:   "registry-sim",
		Short: "Serve a synthetic county's poverty registry under the registry API contract",
		Long: `Serves a synthetic county (deterministic from --seed) under the HTTP contract
of connectors/registry/openapi.yaml (served at /openapi.yaml), checking
request signatures (401 when wrong). --fault queues faults for the next
matching requests: KIND[,times=N][,resource=persons|households][,page=N]
[,retry_after=D][,delay=D], KIND one of 500, 429, slow, truncate, duplicate,
reorder. The admin endpoints change it while it runs:
  POST   /admin/faults          a fault as JSON {"kind":"429","times":2,"retry_after":1000000000}
  DELETE /admin/faults          drop queued faults
  POST   /admin/mutate?n=N      N changes: updates, new persons, exits, deaths, removals
  POST   /admin/backwards?n=N&by=D[&resource=R]
                                change N records with an updated_at D in the past
It runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := registrysim.Options{County: county, Persons: persons, Seed: seed, AppKey: appKey}
			secretFrom := "the simulator's default secret " + registrysim.DefaultSecret
			if secretEnv != "" {
				// Read as the registry source reads secret_env.
				v, err := secretsource.Read("--secret-env", secretEnv, "", "", secretsource.Options{})
				if err != nil {
					return err
				}
				opts.Secret, secretFrom = []byte(v), "$"+secretEnv
			}
			sim, err := registrysim.New(opts)
			if err != nil {
				return err
			}
			for _, spec := range faults {
				f, err := registrysim.ParseFault(spec)
				if err == nil {
					err = sim.Inject(f)
				}
				if err != nil {
					return err
				}
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "registry simulator: county %s, %d persons, %d households\n", sim.County(), sim.Count(registrysim.Persons), sim.Count(registrysim.Households))
			fmt.Fprintf(out, "listening on http://%s (app key %s, secret %s)\n", ln.Addr(), sim.AppKey(), secretFrom)
			return serveSim(cmd.Context(), srv, ln, sim, every, changes)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8480", "address to listen on")
	f.StringVar(&county, "county", "370282", "6-digit county code (370282 uses the Jimo pack's village codes)")
	f.IntVar(&persons, "persons", 200, "size of the synthetic population")
	f.Uint64Var(&seed, "seed", 1, "seed of the synthetic data")
	f.StringVar(&appKey, "app-key", registrysim.DefaultAppKey, "the app key accepted")
	f.StringVar(&secretEnv, "secret-env", "", "environment variable holding the signing secret (default: the simulator's fixed test secret)")
	f.StringArrayVar(&faults, "fault", nil, "queue a fault (repeatable), e.g. 429,times=2,retry_after=1s")
	f.DurationVar(&every, "mutate-every", 0, "make --changes changes at this interval (0: only through /admin/mutate)")
	f.IntVar(&changes, "changes", 5, "changes per --mutate-every")
	return cmd
}

// serveSim serves until ctx is done, mutating the data every `every`.
func serveSim(ctx context.Context, srv *http.Server, ln net.Listener, sim *registrysim.Sim, every time.Duration, changes int) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-errc:
			return err
		case <-tick:
			sim.Mutate(changes)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			err := srv.Shutdown(sctx)
			if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
				return serr
			}
			return err
		}
	}
}
