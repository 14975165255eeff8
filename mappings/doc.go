// Package mappings turns legacy rows into canonical health-poverty records,
// as told by mapping files that county IT staff write.
//
// One mapping file maps one source table (or query, or registry resource) to
// one canonical entity of package canonical. Parse and Compile check a file
// completely and report every problem as `path:line:col: message`; Apply
// maps a batch of rows into Kafka-ready records and rejections; RunFixtures
// runs the `tests:` of a file. This package does no I/O beyond reading the
// mapping files and their code-table CSVs, and never logs.
//
// # The file format
//
//	kind: mapping                    # every hpgate YAML file says what it is
//	name: jimo-ins-settlement        # unique in a deployment (metrics, preview, checkpoints)
//	county: "370282"                 # GB/T 2260 code of the county (quote it)
//	system: insurance                # his | public_health | insurance | registry
//	source: jimo-ins                 # the source instance in the config file
//	entity: settlement               # the canonical entity produced
//	table: YB_JSXX                   # the source table or view (or query: a SELECT)
//	detail: …                        # optional: a detail table pivoted into columns (below)
//	lookups: …                       # optional: dictionary tables joined (below)
//	time_zone: "+08:00"              # zone of naive DATE/DATETIME values (default +08:00)
//	cursor:
//	  mode: incremental              # incremental (timestamp + keys) | snapshot
//	  timestamp: GXSJ                # incremental: a last-changed timestamp column
//	  fallback_timestamp: CJSJ       # optional: read where GXSJ is NULL (slower: no index)
//	  keys: [JSID]                   # unique key columns; they make the record id
//	filter: 'JSZT != "9"'            # optional: rows where this is false are skipped
//	op: 'CXBZ == "1" ? "delete" : "upsert"'   # optional: a voided row becomes a delete
//	identity:                        # who the row is about (not for household)
//	  id_card: SFZH                  # column holding the resident ID number
//	  fallback:                      # optional, for people without a valid ID
//	    id_card: MQSFZH              #   e.g. the mother's ID of a newborn
//	    with: [CSXH]                 #   and columns telling her children apart
//	pii_columns: [XM, LXDH]          # other columns with personal data
//	codes:                           # code tables: local code -> canonical value
//	  facility_level:
//	    file: codes/facility_level.csv   # CSV beside the mapping: code,value[,valid_from,valid_to]
//	  encounter_type:
//	    values: {"1": outpatient, "2": inpatient, "3": chronic_outpatient}
//	    default: outpatient          # for unknown codes; without it they are rejected
//	fields:                          # one rule per canonical field
//	  settlement_no: JSID            # shorthand for {column: JSID}
//	  total_cost: {column: ZFY, unit: fen}
//	  settled_at: {column: JSSJ, layout: "20060102150405"}
//	  facility_level: {column: YYJB, code: facility_level}
//	  out_of_pocket: {expr: 'fen(ZFY) - fen(TCZF)', unit: fen}
//	  in_county: {const: true}
//	tests:                           # fixtures run by `hpgate test`
//	  - name: ordinary inpatient settlement
//	    row: {JSID: JS001, SFZH: "11010519491231002X", ZFY: "1234567", ...}
//	    expect: {total_cost: "12345.67", facility_level: township}
//	  - name: bad check digit is rejected
//	    row: {JSID: JS002, SFZH: "110105194912310021", ...}
//	    reject: {field: person_key, code: bad_check_digit}
//
// # Several tables: detail pivots and dictionary lookups
//
// A mapping on a header table may pivot one detail table into columns and
// join the source system's dictionary tables, without writing SQL:
//
//	table: SETL_D                    # the header: cursor, keys and record id stay its own
//	detail:                          # several rows per header row, one per payer layer
//	  table: FUND_DETAIL
//	  on: {SETL_ID: SETL_ID}         # header column: detail column (several are ANDed)
//	  where: {VALI_FLAG: "1"}        # optional constant conditions (null: IS NULL)
//	  pivot:
//	    key: FUND_PAY_TYPE           # the detail column holding the layer code
//	    value: FUND_PAYAMT           # the amount
//	    aggregate: sum               # sum (default) | min | max | count
//	    columns:                     # code: the column it becomes
//	      "310100": FUND_BASIC       #   基本医疗保险统筹基金
//	      "390200": FUND_SERIOUS     #   大病保险
//	      "610100": FUND_AID         #   医疗救助
//	      "620100": FUND_OTHER       #   codes sharing a column are aggregated together
//	      "999997": FUND_OTHER
//	    ignore: ["510100"]           # known codes deliberately left out
//	    unknown: reject              # reject (default) | ignore: any other code
//	lookups:                         # LEFT JOINs to dictionary tables
//	  - table: DICT_HOSP
//	    on: {HOSP_CODE: CODE}        # header column: dictionary column
//	    where: {STOP_DATE: null}     # optional, to keep one entry per code
//	    columns: {LV: HOSP_LV}       # dictionary column: the column it becomes
//	fields:
//	  basic_insurance: FUND_BASIC    # pivot and lookup columns are used like any column
//	  facility_level: {column: HOSP_LV, code: facility_level}
//
// hpgate compiles this into one SELECT over the header, which the source
// reads as it reads a `query:` (so the two cannot be combined): the header
// columns the mapping reads, one correlated scalar subquery per pivot column
// (`(SELECT SUM(d.FUND_PAYAMT) FROM FUND_DETAIL d WHERE d.SETL_ID =
// h.SETL_ID AND d.VALI_FLAG = '1' AND d.FUND_PAY_TYPE = '310100') AS
// FUND_BASIC`), and `LEFT JOIN DICT_HOSP l1 ON l1.CODE = h.HOSP_CODE …`
// per lookup. The same SQL runs on MySQL, MariaDB, PostgreSQL, SQLite,
// Oracle and SQL Server: names are written unquoted, so every table and
// column must be a plain identifier (letters, digits, _, $, #; a table may
// be schema.table; $ and # only work on Oracle and SQL Server) and is
// folded by the database like any unquoted name — write names as the
// database stores them (upper case on Oracle, lower case on PostgreSQL).
// A column named by a reserved word (LEVEL, DATE, USER on Oracle) needs
// quoting this form does not do: read it through a view or a `query:`.
// Codes and constants are string literals ('310100'); a backslash or a
// control character in them is refused.
//
// A layer without detail rows gives NULL (the field is absent, or takes
// its rule's `default`); a header without any detail row still maps. A
// missing dictionary entry leaves the lookup columns NULL and never drops
// the row, but a code with two entries repeats the row: use `where` so the
// dictionary has one entry per code. With `unknown: reject` a detail code
// that is neither under columns nor under ignore rejects the row (code
// unknown_code, naming the code), so a new fund type is never silently
// lost; the generated SELECT reads the code into the column
// hpgate_unknown, which a fixture sets to test that rejection. Fixtures
// give pivot and lookup columns by their output names, like any column.
//
// Errors found at compile time, each at its line and column: detail or
// lookups with `query:`, a name that is not a plain identifier, an output
// column declared twice (case-insensitively) or never used by a rule, an
// output column that clashes with a header column of the cursor or of an
// `on`, a pivot without key, value or columns, an unknown aggregate.
//
// The cursor stays on the header's timestamp and keys, so the checkpoint
// fingerprint is that of the header table: adding a pivot column or a
// lookup does not stop the mapping. A detail or dictionary row changed
// later without touching the header's timestamp is not seen until the
// header changes. Where the detail table is written after its header (or
// corrected later), read it with a `query:` whose timestamp covers both,
// e.g. GREATEST(h.UPDT_TIME, COALESCE((SELECT MAX(d.UPDT_TIME) FROM
// FUND_DETAIL d WHERE d.SETL_ID = h.SETL_ID), h.UPDT_TIME)) AS CURSOR_TIME
// (the COALESCE because GREATEST with a NULL is NULL on MySQL and Oracle;
// no index serves this cursor, so it scans), or with `cursor: {mode:
// snapshot}`, which compares every row at each poll.
// For speed the detail table needs an index on its `on` columns (and the
// pivot key), and each dictionary one on its `on` columns.
//
// # Field rules
//
// A rule takes its value from exactly one of `column`, `const` or `expr`,
// then optionally through a code table (`code`), then converts it to the
// canonical field's type:
//
//   - text fields: trimmed; `encoding: gbk` decodes GBK/GB18030 bytes kept in
//     latin1 or binary columns; `pii: true` masks the value.
//   - enumerations: the value (after `code`) must be one of the schema's
//     words; a code table whose values are not is a compile error.
//   - money: `unit: yuan` (default) or `unit: fen`; strings, integers and
//     decimals; written as yuan with 2 decimals, rounded half-up.
//   - dates and date-times: legacy layouts are detected (20060102,
//     2006-01-02, 2006/1/2, 2006年1月2日, 20060102150405, Excel serial days,
//     database DATE/DATETIME values); `layout` pins one Go layout. Naive
//     values are read in the mapping's time_zone.
//   - integers, numbers, booleans (1/0, Y/N, 是/否, true/false), lists
//     (a text split on `separator`, default any of , ; | ，；).
//
// `default` gives the value used when the source value is NULL or empty.
// `required: true` rejects a row whose value is missing; the schema's own
// required fields are always required.
//
// Fields filled without a rule: person_key, id_masked and id_quality (from
// `identity`), county, source_system, source_id (from the cursor keys), and
// updated_at (from the cursor timestamp, unless mapped); for person also
// birth_year and gender (from the ID, unless mapped). Fields whose name ends
// in person_key take an ID number and carry its person key (the HMAC of
// the normalised number); household_key and the other *_key fields carry
// `<key id>:<HMAC of "<field name>:<value>">`, so the same household number
// gives the same key in every mapping. A delete (op) carries the fields
// hpgate fills and the required fields that map; it is never rejected for
// a field it does not need.
//
// # Expressions
//
// `filter`, `op` and `expr` rules use the expr language
// (github.com/expr-lang/expr): columns are variables (text columns are
// strings, NULL is nil), with operators such as ==, !=, <, and, or, not,
// ?:, in, startsWith, contains, matches, and functions such as trim, upper,
// lower, len, int, float, string, plus hpgate's:
//
//   - fen(v) parses money in yuan into whole fen; fen(v, "fen") reads fen.
//   - blank(v) is true for NULL or white space.
//   - coalesce(a, b, …) returns the first non-blank value, or the last
//     argument when all are blank (so coalesce(x, "") is never nil).
//
// An expression is compiled once per mapping; it may hold at most 2,000
// characters and 500 nodes, and its text results at most 4,096 bytes. A
// run-time error rejects the row with code expr_error.
//
// # Rejections
//
// A row that cannot be mapped becomes a Rejection with the mapping name,
// the row's position, the canonical field, a stable snake_case code
// (bad_id_format, bad_check_digit, bad_birth_date, unparseable_date,
// bad_money, bad_encoding, unknown_code, bad_value, missing_required,
// expr_error, value_too_long) and a message without personal data. A row
// its source could not read (connectors.Batch.Problems: a CSV line with
// the wrong number of cells) is rejected with the source's code (bad_row)
// and message, field empty, before the filter or any rule sees it.
//
// # Fixtures
//
// Fixture rows hold raw text: `007` and `2019-03-01` stay strings. To give
// other database values write `null` (or ~) for NULL, {datetime: "2019-03-01
// 10:00:00"} for a DATE/DATETIME value, {decimal: "12.345"}, {int: 5},
// {float: 1.5}, {gbk: "张三"} for the GBK bytes of a text, or {hex: "d5c5"}.
// Expectations compare the listed fields only, as text (money "12.30",
// booleans true/false, lists as YAML lists; `null` means the field is
// absent). `op: delete` expects a delete, `filtered: true` a skipped row.
// Fixtures run under the fixed test key of package pii (pii.TestKeyID), so
// they can state a person_key.
package mappings
