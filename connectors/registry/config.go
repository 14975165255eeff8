package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/hpgate/hpgate/connectors"
	"github.com/hpgate/hpgate/connectors/secretsource"
	"github.com/hpgate/hpgate/connectors/sqlsource"
)

// Defaults of Config.
const (
	DefaultPageSize       = 500
	DefaultSettleDelay    = 5 * time.Second
	DefaultLookBack       = 10 * time.Minute
	DefaultRequestTimeout = 30 * time.Second
	DefaultRetries        = 4
	DefaultRetryWaitMin   = 500 * time.Millisecond
	DefaultRetryWaitMax   = 30 * time.Second
	DefaultBatchSize      = connectors.DefaultBatchSize
	DefaultPollInterval   = 30 * time.Second
	// MaxPageSize is the largest page_size the contract allows.
	MaxPageSize = 1000
)

// Pagination modes of the contract (openapi.yaml).
const (
	// PaginationCursor follows the server's next_cursor within one Read.
	PaginationCursor = "cursor"
	// PaginationPage asks for numbered pages over a window fixed for one
	// Read, and starts again from the last row when the window's total
	// changes under it.
	PaginationPage = "page"
)

// Config configures one registry source. A zero field selects its default.
// The Config is read once, by New.
type Config struct {
	// URL is the base URL of the registry API (the provincial exchange
	// platform or the adapter), e.g. https://gw.example/registry. The
	// resources are read at URL + /v1/<resource>. Required.
	URL string
	// AppKey identifies hpgate to the platform. Required.
	AppKey string
	// Secret is the signing secret; it never prints. Required.
	Secret Secret
	// Signature is the HMAC of the request signature: SignHMACSHA256 (the
	// default) or SignHMACSM3.
	Signature string
	// Pagination is PaginationCursor (the default) or PaginationPage.
	Pagination string
	// PageSize is the number of records per HTTP request, at most
	// MaxPageSize. A Read makes as many requests as its limit needs. The
	// default is 500.
	PageSize int
	// SettleDelay makes incremental reads take only records whose
	// updated_at is at or before the server's clock (the response's
	// server_time, else its Date header) minus the delay. The default is
	// 5s; a negative value disables it.
	SettleDelay time.Duration
	// LookBack is the width of the window re-read after each catch-up
	// (at most every LookBack/2), so that a record whose updated_at moved
	// backwards (a clock correction of the registry) by less than
	// LookBack/2 is still read. The default is 10m; a negative value
	// disables the re-reads.
	LookBack time.Duration
	// RequestTimeout bounds each HTTP attempt. The default is 30s.
	RequestTimeout time.Duration
	// Retries is how many times a request is retried after a 5xx, a 429, a
	// timeout, a lost connection or a malformed page, with exponential
	// backoff and jitter between RetryWaitMin and RetryWaitMax (a 429's or
	// 503's Retry-After is honoured instead). The default is 4; a negative
	// value means no retry.
	Retries      int
	RetryWaitMin time.Duration // default 500ms
	RetryWaitMax time.Duration // default 30s
	// RequestsPerSecond caps the rate of HTTP requests (retries included)
	// over all the source's streams. Zero, the default, means no cap.
	RequestsPerSecond float64
	// TLS configures the server's CA and an optional client certificate.
	TLS TLSConfig
	// BatchSize and PollInterval are the pipeline's (defaults 2000, 30s).
	BatchSize    int
	PollInterval time.Duration
}

// TLSConfig is the client side of TLS: a custom CA for the platform's
// certificate and an optional client certificate (mutual TLS).
type TLSConfig struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Secret holds the signing secret. Every way of printing it shows
// "[redacted]"; the value sits behind a pointer so that reflection-based
// printing of a struct holding it shows an address, not the text.
type Secret struct{ p *[]byte }

const redacted = "[redacted]"

// NewSecret wraps a secret value.
func NewSecret(b []byte) Secret { return Secret{p: &b} }

func (s Secret) reveal() []byte {
	if s.p == nil {
		return nil
	}
	return *s.p
}

func (s Secret) String() string               { return redacted }
func (s Secret) GoString() string             { return redacted }
func (s Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(redacted)) }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// fieldErr is a problem with one config key. It is sqlsource's FieldError,
// so that the config loader places both drivers' problems the same way.
func fieldErr(key, format string, args ...any) error {
	return &sqlsource.FieldError{Key: key, Err: fmt.Errorf(format, args...)}
}

func (c Config) withDefaults() Config {
	if c.Signature == "" {
		c.Signature = SignHMACSHA256
	}
	if c.Pagination == "" {
		c.Pagination = PaginationCursor
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.SettleDelay == 0 {
		c.SettleDelay = DefaultSettleDelay
	}
	if c.LookBack == 0 {
		c.LookBack = DefaultLookBack
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.RetryWaitMin == 0 {
		c.RetryWaitMin = DefaultRetryWaitMin
	}
	if c.RetryWaitMax == 0 {
		c.RetryWaitMax = DefaultRetryWaitMax
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// validate checks every field (defaults applied) and returns all the
// problems, as *sqlsource.FieldError values.
func (c Config) validate() []error {
	var errs []error
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fieldErr("url", "want an http:// or https:// base URL"))
	} else if u.User != nil || u.RawQuery != "" {
		errs = append(errs, fieldErr("url", "must hold no user, password or query: the requests are signed"))
	}
	if strings.TrimSpace(c.AppKey) == "" {
		errs = append(errs, fieldErr("app_key", "empty"))
	}
	if len(c.Secret.reveal()) == 0 {
		errs = append(errs, fieldErr("secret_env", "empty secret"))
	}
	if _, err := newMAC(c.Signature); err != nil {
		errs = append(errs, &sqlsource.FieldError{Key: "signature", Err: err})
	}
	if c.Pagination != PaginationCursor && c.Pagination != PaginationPage {
		errs = append(errs, fieldErr("pagination", "%q is not cursor or page", c.Pagination))
	}
	if c.PageSize < 1 || c.PageSize > MaxPageSize {
		errs = append(errs, fieldErr("page_size", "must be 1 to %d, got %d", MaxPageSize, c.PageSize))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fieldErr("request_timeout", "must be positive, got %v", c.RequestTimeout))
	}
	if c.RetryWaitMin < 0 || c.RetryWaitMax < c.RetryWaitMin {
		errs = append(errs, fieldErr("retry_wait_max", "want 0 <= retry_wait_min <= retry_wait_max"))
	}
	if c.RequestsPerSecond < 0 {
		errs = append(errs, fieldErr("requests_per_second", "must not be negative, got %v", c.RequestsPerSecond))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, fieldErr("tls", "cert_file and key_file go together"))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fieldErr("batch_size", "must be at least 1, got %d", c.BatchSize))
	}
	return errs
}

// FileConfig is a registry source's block of the config file, decoded
// strictly by the factory. The secret comes from secret_env or
// secret_file, never from the file itself.
//
//	jimo-registry-api:
//	  driver: registry
//	  url: https://gw.example/registry
//	  app_key: hpgate-370282
//	  secret_env: JIMO_REGISTRY_SECRET
type FileConfig struct {
	Driver            string         `yaml:"driver"`
	URL               string         `yaml:"url"`
	AppKey            string         `yaml:"app_key"`
	SecretEnv         string         `yaml:"secret_env"`
	SecretFile        string         `yaml:"secret_file"`
	Signature         string         `yaml:"signature"`
	Pagination        string         `yaml:"pagination"`
	PageSize          int            `yaml:"page_size"`
	SettleDelay       *time.Duration `yaml:"settle_delay"` // 0s disables the delay
	LookBack          *time.Duration `yaml:"look_back"`    // 0s disables re-reads
	RequestTimeout    time.Duration  `yaml:"request_timeout"`
	Retries           *int           `yaml:"retries"` // 0 disables retries
	RetryWaitMin      time.Duration  `yaml:"retry_wait_min"`
	RetryWaitMax      time.Duration  `yaml:"retry_wait_max"`
	RequestsPerSecond float64        `yaml:"requests_per_second"`
	TLS               TLSConfig      `yaml:"tls"`
	BatchSize         int            `yaml:"batch_size"`
	PollInterval      time.Duration  `yaml:"poll_interval"`
}

// Config resolves the block: it reads the secret from the environment
// variable secret_env or the file secret_file (exactly one; surrounding
// white space is dropped). Every problem is returned, joined.
func (fc FileConfig) Config() (Config, error) {
	cfg, errs := fc.resolve()
	return cfg, errors.Join(errs...)
}

func (fc FileConfig) resolve() (Config, []error) {
	var errs []error
	if fc.Driver != "" && fc.Driver != Driver {
		errs = append(errs, fieldErr("driver", "%q given to the %s driver's factory", fc.Driver, Driver))
	}
	cfg := Config{
		URL: fc.URL, AppKey: fc.AppKey, Signature: strings.ToLower(fc.Signature), Pagination: fc.Pagination,
		PageSize: fc.PageSize, RequestTimeout: fc.RequestTimeout, RetryWaitMin: fc.RetryWaitMin,
		RetryWaitMax: fc.RetryWaitMax, RequestsPerSecond: fc.RequestsPerSecond, TLS: fc.TLS,
		BatchSize: fc.BatchSize, PollInterval: fc.PollInterval,
	}
	for _, d := range []struct {
		key string
		in  *time.Duration
		out *time.Duration
	}{{"settle_delay", fc.SettleDelay, &cfg.SettleDelay}, {"look_back", fc.LookBack, &cfg.LookBack}} {
		switch {
		case d.in == nil:
		case *d.in < 0:
			errs = append(errs, fieldErr(d.key, "must not be negative, got %v", *d.in))
		case *d.in == 0:
			*d.out = -1 // explicitly none
		default:
			*d.out = *d.in
		}
	}
	if fc.Retries != nil {
		cfg.Retries = *fc.Retries
		if cfg.Retries == 0 {
			cfg.Retries = -1
		}
	}
	secret, err := readSecret(fc.SecretEnv, fc.SecretFile)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.Secret = secret
	return cfg, errs
}

// readSecret reads a secret the way every hpgate secret is read: from the
// environment variable named by *_env or the file named by *_file, exactly
// one of them, trimmed. Errors name the variable or file, never the value.
func readSecret(env, file string) (Secret, error) {
	v, err := secretsource.Read("secret_env", env, "secret_file", file, secretsource.Options{})
	if err != nil {
		// sqlsource's FieldError, placed at the key like every other.
		if se, ok := errors.AsType[*secretsource.Error](err); ok {
			err = &sqlsource.FieldError{Key: se.Key, Err: se.Err}
		}
		return Secret{}, err
	}
	return NewSecret([]byte(v)), nil
}

// Driver is the driver name of the registry source (`driver: registry`).
const Driver = "registry"

// Factory is the connectors.SourceFactory of the registry driver.
func Factory(name string, decode func(any) error, log *slog.Logger) (connectors.Source, error) {
	var fc FileConfig
	if err := decode(&fc); err != nil {
		return nil, err
	}
	cfg, errs := fc.resolve()
	if len(errs) > 0 {
		// Report the other keys' problems too, but the secret's once.
		for _, e := range cfg.withDefaults().validate() {
			var fe *sqlsource.FieldError
			if errors.As(e, &fe) && fe.Key == "secret_env" && cfg.Secret.p == nil {
				continue
			}
			errs = append(errs, e)
		}
		return nil, errors.Join(errs...)
	}
	s, err := New(name, cfg, log)
	if err != nil {
		return nil, err
	}
	return s, nil
}
