package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/mappings/canonical"
	"github.com/hpgate/hpgate/pipeline"
	"github.com/hpgate/hpgate/pipeline/checkpoint"
	"github.com/hpgate/hpgate/pipeline/config"
	"github.com/hpgate/hpgate/pipeline/trail"
)

// The admin API lets `hpgate checkpoint` act through a running daemon,
// which owns the state store. It listens on the daemon's HTTP listener
// (loopback by default) and requires the token the daemon writes, mode
// 0600, into the state directory: whoever may read the state may act.

const adminTokenFile = "admin.token"

// adminCheckpoint is one checkpoint as the admin API and `checkpoint list`
// show it: never the raw position.
type adminCheckpoint struct {
	Name        string    `json:"name"`
	Display     string    `json:"position"`
	Rows        int64     `json:"rows"`
	UpdatedAt   time.Time `json:"updated_at"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	Manual      bool      `json:"manual,omitempty"`
	State       string    `json:"state,omitempty"`
}

// writeAdminToken creates a fresh token for this daemon run.
func writeAdminToken(stateDir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", err
	}
	return tok, os.WriteFile(filepath.Join(stateDir, adminTokenFile), []byte(tok), 0o600)
}

// adminHandlers adds /admin/ routes for the daemon.
func (d *daemon) adminHandlers(token string) func(mux *http.ServeMux) {
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	return func(mux *http.ServeMux) {
		mux.HandleFunc("GET /admin/checkpoints", auth(func(w http.ResponseWriter, _ *http.Request) {
			list, err := listCheckpoints(d.store)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			states := map[string]string{}
			for _, s := range d.pipe.Status() {
				states[s.Mapping] = s.State
			}
			for i := range list {
				list[i].State = states[list[i].Name]
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(list)
		}))
		mux.HandleFunc("POST /admin/checkpoints/{name}/reset", auth(func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			err := d.pipe.ResetCheckpoint(name)
			d.record(r.Context(), trail.Entry{Operator: operatorOf(r), Action: canonical.AuditCheckpointReset, Mapping: name, Err: err})
			adminResult(w, err)
		}))
		mux.HandleFunc("POST /admin/checkpoints/{name}/set", auth(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Position connectors.Position `json:"position"`
				Display  string              `json:"display"`
			}
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil || body.Position == "" {
				http.Error(w, "body must be {\"position\": …, \"display\": …}", http.StatusBadRequest)
				return
			}
			name := r.PathValue("name")
			err := d.pipe.SetCheckpoint(name, body.Position, body.Display)
			d.record(r.Context(), trail.Entry{Operator: operatorOf(r), Action: canonical.AuditCheckpointSet, Mapping: name, Err: err,
				Detail: "resumes after " + body.Display})
			adminResult(w, err)
		}))
		d.assuranceRoutes(mux, auth)
	}
}

func adminResult(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		_, _ = w.Write([]byte("ok\n"))
	case errors.Is(err, pipeline.ErrUnknownMapping):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, pipeline.ErrRunning):
		http.Error(w, err.Error(), http.StatusConflict)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func listCheckpoints(store *checkpoint.Store) ([]adminCheckpoint, error) {
	entries, err := store.List()
	if err != nil {
		return nil, err
	}
	out := make([]adminCheckpoint, len(entries))
	for i, e := range entries {
		out[i] = adminCheckpoint{Name: e.Name, Display: e.Display, Rows: e.Rows, UpdatedAt: e.UpdatedAt, Fingerprint: e.Fingerprint, Manual: e.Manual}
	}
	return out, nil
}

// adminClient talks to a running daemon; ok is false when none answers.
type adminClient struct {
	base, token string
	http        *http.Client
	// operator is who acts, sent for the daemon's audit trail.
	operator string
}

// dialAdmin returns a client when a daemon's token and listener are there
// and the daemon answers.
func dialAdmin(ctx context.Context, cfg *config.Config) (*adminClient, bool) {
	tok, err := os.ReadFile(filepath.Join(cfg.State.Dir, adminTokenFile))
	if err != nil || cfg.HTTP.Listen == "" {
		return nil, false
	}
	c := &adminClient{base: "http://" + cfg.HTTP.Listen, token: strings.TrimSpace(string(tok)), http: &http.Client{Timeout: 10 * time.Second},
		operator: trail.Operator("")}
	if cfg.HTTP.TLS != nil {
		// The token authenticates; TLS only keeps it off the wire. The
		// daemon's certificate names its public host, not the loopback
		// address the admin client dials, so it is not verified here.
		c.base = "https://" + cfg.HTTP.Listen
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // see above
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/healthz", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, false
	}
	resp.Body.Close()
	return c, resp.StatusCode == http.StatusOK
}

// operatorHeader carries who acts, for the audit trail.
const operatorHeader = "X-Hpgate-Operator"

func (c *adminClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set(operatorHeader, c.operator)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("daemon: %s", strings.TrimSpace(string(msg)))
	}
	if out != nil {
		return json.Unmarshal(msg, out)
	}
	return nil
}
