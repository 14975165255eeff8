package registry

import _ "embed" // the OpenAPI file

// OpenAPI is the contract of the registry API (openapi.yaml, OpenAPI 3.1):
// the endpoints, the signature headers, pagination, records and errors.
// The simulator serves it at /openapi.yaml, and a test validates the
// simulator's responses against its schemas.
//
//go:embed openapi.yaml
var OpenAPI []byte
