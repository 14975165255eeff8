package sqlsource

import "database/sql"

// DB exposes a Source's pool to the external tests, whose gated harnesses
// write through the source's own session settings.
func DB(s *Source) *sql.DB { return s.db }
