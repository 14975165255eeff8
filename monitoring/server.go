package monitoring

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics, /healthz (alive), /readyz (ready to work) and
// /status (each mapping's state as JSON).
type Server struct {
	srv *http.Server
	ln  net.Listener
	log *slog.Logger
}

// Handlers are what the server asks the daemon.
type Handlers struct {
	Gatherer prometheus.Gatherer
	// Ready returns nil when the daemon can work (config loaded, state
	// open, broker reachable), else the reason.
	Ready func(ctx context.Context) error
	// Status returns each mapping's status.
	Status func() []MappingStatus
	// Extra adds handlers (the admin API) to the mux.
	Extra func(mux *http.ServeMux)
	// User and Password, when User is set, protect /metrics and /status
	// with HTTP basic authentication; the probes stay open.
	User, Password string
	// CertFile and KeyFile, when set, make the listener serve HTTPS.
	CertFile, KeyFile string
}

// Listen binds addr (host:port; port 0 picks one) and returns a server not
// yet serving.
func Listen(addr string, h Handlers, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	protect := func(next http.Handler) http.Handler {
		if h.User == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(h.User)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(h.Password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="hpgate"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	mux.Handle("GET /metrics", protect(promhttp.HandlerFor(h.Gatherer, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if h.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := h.Ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /status", protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var st []MappingStatus
		if h.Status != nil {
			st = h.Status()
		}
		if wantsHTML(r) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_ = statusPage.Execute(w, statusView{Now: time.Now(), Mappings: st})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"mappings": st})
	})))
	if h.Extra != nil {
		h.Extra(mux)
	}
	srv := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		ln:  ln, log: log,
	}
	if h.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("http tls: %w", err)
		}
		srv.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	return srv, nil
}

// Addr returns the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}

// wantsHTML reports whether the client asked for the HTML page: a browser
// (Accept: text/html) or ?format=html.
func wantsHTML(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); f != "" {
		return f == "html"
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

type statusView struct {
	Now      time.Time
	Mappings []MappingStatus
}

// Lag formats a mapping's lag for the page.
func (v statusView) Lag(s MappingStatus) string {
	return s.Lag(v.Now).Round(time.Second).String()
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>hpgate status</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}th,td{padding:.3em .7em;border-bottom:1px solid #ddd;text-align:left;font-size:.9em}
td.n{text-align:right}.stopped,.backoff{color:#b00;font-weight:bold}.quiet{color:#a60}.idle,.running{color:#070}
</style></head><body>
<h1>hpgate</h1><p>{{len .Mappings}} mappings, {{.Now.Format "2006-01-02 15:04:05 MST"}}. JSON: <a href="?format=json">/status?format=json</a>, metrics: <a href="/metrics">/metrics</a>.</p>
<table><tr><th>mapping</th><th>county</th><th>source</th><th>entity</th><th>state</th><th>lag</th><th>rows</th><th>records</th><th>rejected</th><th>position</th><th>last error</th></tr>
{{range .Mappings}}<tr><td>{{.Mapping}}</td><td>{{.County}}</td><td>{{.Source}}</td><td>{{.Entity}}</td><td class="{{.State}}">{{.State}}</td><td class="n">{{$.Lag .}}</td><td class="n">{{.Rows}}</td><td class="n">{{.Records}}</td><td class="n">{{.Rejected}}</td><td>{{.Position}}</td><td>{{.LastError}}</td></tr>
{{end}}</table></body></html>
`))
