// Package filedrop is the file-drop source (driver `filedrop`): it reads
// the CSV and XLSX exports a county receives (the poverty registry's
// roster, 花名册, most of all) from a drop directory, one file at a time,
// and hands their rows to the pipeline like the rows of a table.
//
// # Files and mappings
//
// A mapping's `table:` is a glob matched against the file names of the
// drop directory, ignoring case (`花名册*.xlsx`, `*.csv`). Columns are found
// by their header text, with white space (line breaks inside a cell,
// U+3000) removed and ASCII case ignored; every column the mapping reads
// must be in the header, else the whole file goes to failed/ with a report
// naming the missing columns. Three columns are added to every row:
//
//   - _file: the file's name as dropped;
//   - _row: the sheet row (XLSX) or the line (CSV) of the row;
//   - _file_time: the file's modification time, in the source's time zone
//     (a roster has no change timestamp per row, so mappings use it as
//     their cursor timestamp).
//
// XLSX files are streamed row by row (the worksheet XML read token by
// token, xlsxsheet.go): a sheet of 100,000 rows is never held whole, only
// its shared strings. Cells are read as Excel displays them (as excelize
// shows them); dates in Excel's built-in formats come out as 2006-01-02
// (15:04:05), other date and number formats as displayed, formatted by
// excelize; dates are right in the 1904 date system too. CSV files are UTF-8 (with or without a
// byte order mark) or GBK/GB18030, declared per source or per mapping
// (`files:`), or detected: a UTF-8 byte order mark always wins, `auto`
// takes UTF-8 when the first 64 KiB are valid UTF-8 and GBK otherwise. A
// cell that is not valid in the file's encoding is handed to the mapping as
// raw bytes, so the row is rejected to the DLQ (bad_encoding) by any rule
// that reads it, and the rest of the file goes on.
//
// # Bad rows
//
// A CSV line with the wrong number of cells (a missing or extra separator
// shifts every column after it) or an XLSX row the sheet reader refuses is
// a bad row. It keeps its place in the batch with all the mapping's columns
// nil (only _file, _row and _file_time set) and a connectors.RowProblem
// (code bad_row, message "<file>: line 17 has 9 cells, the header has
// 12: …"), so the mapper rejects it to the DLQ without mapping anything of
// it, and the rest of the file is delivered. The file itself, kept in
// done/, holds the line. A file more than Options.MaxBadRowPercent (default
// 50) of whose data rows are bad is not trusted at all: a CSV file, read
// through once before any row is sent, goes to failed/ whole; an XLSX file
// is streamed, so it is judged at its end and goes to failed/ after its
// other rows were delivered. A CSV syntax error the reader cannot get past
// fails the file as before.
//
// # Taking files safely
//
// Each Read lists the directory (polling: the pipeline polls anyway, and a
// poll works on network shares where change notifications do not). A file
// is taken only once its size and modification time have not changed for
// QuietPeriod; names starting with `~$` (Excel lock files) or `.`, and
// names ending in .tmp, .part, .partial, .crdownload, .filepart, .swp or
// .download are never taken. Writers should write under such a name and
// rename when done. Files are taken in order of modification time, then
// name, and one at a time per mapping.
//
// # Positions and acknowledgement
//
// A position is "<sha256 of the file>:<row>", so a restart resumes inside
// the same file after its last acknowledged row. A file is moved to done/
// only once the pipeline has acknowledged all its rows: the pipeline reads
// from a position only after the rows before it are acknowledged, except
// for one read ahead after a full batch, so the source moves a file once it
// is asked to read after the file's last row either by a read that follows
// a short batch (never a read-ahead) or twice in a row. Until then it
// returns empty batches. Each file therefore costs at least one poll
// interval.
//
// A processed file moves to done/ (or failed/) under a name prefixed with
// the time it was finished, beside a JSON report (rows read and sent,
// rows sent to the DLQ by reason, bad rows by line, rows with undecodable
// cells, content hash, timings; never any cell content). The source learns
// what the mapper rejected as a connectors.AckObserver: the pipeline tells
// it each acknowledged batch's rejections by reason. The SHA-256 of every file done is kept in done/.hpgate-ledger,
// one line per file: a file dropped again with the same content goes to
// done/ as a duplicate, and is not sent again.
//
// The package never imports the pipeline; it logs one line per file, never
// per row.
package filedrop
