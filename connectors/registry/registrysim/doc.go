// Package registrysim is a poverty-registry server for tests and demos: it
// serves a synthetic county (households and persons with valid ID numbers,
// deterministic from a seed) under the contract of registry.OpenAPI,
// checks request signatures (401 when wrong or replayed), and changes over
// time (Mutate: status updates, new persons, exits, deaths, removals;
// MoveBack: changes stamped in the past, as after a clock correction).
//
// Faults are injected per request (Inject, ParseFault, POST /admin/faults):
// 500s, 429s with Retry-After, slow responses, truncated JSON, duplicated
// and reordered pages. Requests returns what it answered, so tests can
// assert on retries and their timing.
//
// It is a real HTTP handler: tests serve it with net/http/httptest, and
// `hpgate registry-sim` and `hpgate demo` on a loopback port. It keeps its
// data in memory and is safe for concurrent use.
package registrysim
