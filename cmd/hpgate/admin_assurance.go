package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/hpgate/hpgate/pipeline"
)

// Admin routes of data assurance: the audit, the DLQ list and re-drive,
// replays and the audit trail, run by the daemon that owns the store.
// Long actions (audit, re-drive, replay) run for as long as the request
// stays open; the client cancelling the request stops them (a replay
// keeps its progress and resumes at the next call).

// operatorOf is who acts, as the admin client says.
func operatorOf(r *http.Request) string {
	if op := r.Header.Get(operatorHeader); op != "" && len(op) <= 100 {
		return op
	}
	return "admin-api"
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		adminResult(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(v); err != nil {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// replayBody is a replay request on the wire (the position is sealed in
// the store, never shown: it may hold personal data, and travels only to
// the loopback admin endpoint).
type replayBody struct {
	pipeline.ReplayRequest
}

func (d *daemon) assuranceRoutes(mux *http.ServeMux, auth func(http.HandlerFunc) http.HandlerFunc) {
	mux.HandleFunc("POST /admin/audit", auth(func(w http.ResponseWriter, r *http.Request) {
		var req pipeline.AuditRequest
		if !decodeBody(w, r, &req) {
			return
		}
		rep, err := d.pipe.Audit(r.Context(), d.scanner(), req)
		if err == nil {
			d.exportAudit(rep)
		}
		writeJSON(w, rep, err)
	}))
	mux.HandleFunc("GET /admin/dlq", auth(func(w http.ResponseWriter, r *http.Request) {
		list, err := pipeline.SummarizeDLQ(r.Context(), d.scanner(), d.cfg.Kafka.TopicPrefix, d.store)
		writeJSON(w, list, err)
	}))
	mux.HandleFunc("POST /admin/dlq/redrive", auth(func(w http.ResponseWriter, r *http.Request) {
		var req pipeline.RedriveRequest
		if !decodeBody(w, r, &req) {
			return
		}
		res, err := d.redrive(r.Context(), operatorOf(r), req)
		writeJSON(w, res, err)
	}))
	mux.HandleFunc("POST /admin/replay", auth(func(w http.ResponseWriter, r *http.Request) {
		var req replayBody
		if !decodeBody(w, r, &req) {
			return
		}
		res, err := d.replay(r.Context(), operatorOf(r), req.ReplayRequest)
		writeJSON(w, res, err)
	}))
	mux.HandleFunc("GET /admin/trail", auth(func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		v, err := trailFrom(d.trail, from)
		writeJSON(w, v, err)
	}))
}
