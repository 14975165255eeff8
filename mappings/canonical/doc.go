// Package canonical defines hpgate's canonical schema, version 1: the
// entities every mapping produces (person, household, enrollment,
// chronic_card, contract, followup, health_check, health_record, treatment,
// encounter, settlement, and the derived discrepancy, policy_alert and
// identity, the last being [IdentityView]), the
// message envelope of the canonical topics and the dead-letter value.
//
// # The Go types are the source of truth
//
// Each entity is a Go struct ([Person], [Settlement], ...). Its fields,
// embedded [Origin] and [Subject] included, carry three tags:
//
//	json:"name,omitempty"                       the JSON name; unmapped fields are absent
//	hp:"KIND[,required][,pii][,enum=a|b][,min=N][,max=N][,pattern=REGEX]"
//	doc:"one-line description"
//
// KIND is one of the [Kind] words (string, enum, code, int, number, money,
// date, datetime, bool, strings, enums, object, objects) and fixes the Go
// type: string for the text kinds, *int and *bool (so that 0 and false are
// sent when mapped), [encoding/json.Number], []string, map[string]string.
// Derived entities, which hpgate writes and no mapping fills, may also nest:
// an object field may be a struct and an objects field is a slice of
// structs, each with the same three tags. The
// pattern option takes the rest of the tag, commas included, so it comes
// last; money fields always carry [MoneyPattern].
//
// Everything else is derived from the structs:
//
//   - the field table, [Entities] and [Lookup], built once by reflection,
//     which the mapping engine compiles mappings against (it is not for the
//     per-record path);
//   - the JSON Schema files (draft 2020-12) under schema/, one per entity
//     plus envelope.schema.json and dlq.schema.json, checked in, embedded
//     ([SchemaFS]) and published to consumers. Each property also carries
//     x-hp-kind (its Kind) and, for personal data, x-hp-pii; validators
//     ignore both.
//
// Two drift tests keep them in step: TestSchemaFiles fails, with a diff,
// when a file differs from what the structs generate, and
// TestSchemaFilesMatchStructs reads the files back and compares names,
// required sets, kinds, patterns and values with the tags field by field.
//
// # Regenerating the schema files
//
// After changing a struct, rewrite the files and commit them with it:
//
//	go test ./mappings/canonical -run TestSchemaFiles -update
//
// Never edit a schema file by hand: the drift tests reject it.
//
// # Evolving the schema
//
// Version 1 may gain optional fields. To add one, add the field to the
// struct with its three tags (no required option), regenerate the files, and
// write the mapping rules that fill it. Records without it stay valid and
// existing consumers keep working, as long as they do not reject unknown
// fields: the published schemas set additionalProperties to false so that
// hpgate cannot emit a misspelt field, so a consumer that validates must
// use the schema files of the hpgate release it reads.
//
// Removing a field, changing its kind, pattern or list of values in a way
// that rejects old records, making it required, or changing its meaning
// makes version 2: new types and a new topic (<entity>.v2) that runs beside
// v1 until the consumers have moved. Adding a value to an enum is allowed
// only when consumers are told first, since a consumer may switch on it.
//
// # What the package offers at run time
//
// [AppendString] and [AppendBytesString] write JSON strings exactly as
// encoding/json does, without allocating, for the per-record encoder.
// [ValidateData], [ValidateEnvelope] and [ValidateDLQ] check values against
// the embedded schemas for tests and for `hpgate test`; their errors name
// fields and rules, never the values, which may be personal data.
//
// The package imports no other hpgate package and keeps no mutable state:
// the field table and compiled schemas are built once and then only read,
// so everything here is safe for concurrent use.
package canonical
