package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/marbelle/marbelle/app/internal/password"
	"github.com/marbelle/marbelle/app/internal/ratelimit"
)

// Config is every setting of the contract, resolved and validated.
type Config struct {
	Env                string // "development" or "production"
	Addr               string
	DevAllowPublic     bool // development may listen on a non-loopback address
	DataDir            string
	SecretKey          string // empty in development until the data dir supplies one
	BaseURL            string // no trailing slash; empty in development means "from the listener"
	CookieDomain       string // "" (the cookie is host-only) or a domain it covers with its subdomains
	CSRFTrustedOrigins []string
	CORSAllowedOrigins []string
	AllowedHosts       []string
	TrustedProxies     []netip.Prefix
	ForwardAuthHosts   []string // host or host:port, lower-case, as a browser writes it
	SMTPURL            string
	MailFrom           string
	MailReplyTo        string // "" or the Reply-To address of every mail (#21)
	DevSMTPAddr        string // "" or "off" disables the sink
	DefaultRegion      string
	LogFormat          string // "text" or "json"
	LogLevel           slog.Level
	MetricsAddr        string
	RateLimits         ratelimit.Limits
	TokenTTL           TokenTTL
	SessionTTL         SessionTTL
	PasswordMinLength  int
	SiteName           string
	DefaultLanguage    string // a catalogue's name: "en", "de", or a shop's own (docs/languages.md)
	PasswordHash       password.Params
	ShutdownTimeout    time.Duration
	SweepInterval      time.Duration // how often expired tokens, sessions and old sent mail are pruned
	StoreRelease       time.Duration // how often mapped store pages are given back; 0 = never
	MailRetention      time.Duration // how long sent mail stays in the outbox
	AuditRetention     time.Duration // how long audit events are kept
	// SecurityNotices are the notices mailed to account owners (all by default).
	SecurityNotices map[string]bool
	// Webhooks (#17): how long delivered and failed deliveries are kept,
	// and whether production accepts http:// endpoints to other hosts.
	WebhookRetention time.Duration
	WebhookAllowHTTP bool
	// StaffMFARequired: staff sessions need a second factor (AAL2) for
	// every admin route (MARBELLE_STAFF_MFA=required; mfa.go).
	StaffMFARequired bool
	// OIDCProviders are the OpenID providers customers may sign in with
	// (oidcconfig.go), in the order MARBELLE_OIDC_PROVIDERS names them.
	OIDCProviders []OIDCProvider
}

// Production reports whether the production rules apply.
func (c *Config) Production() bool { return c.Env == "production" }

// TokenTTL is how long each kind of mailed token lives.
type TokenTTL struct {
	Verify, Reset, EmailChange time.Duration
}

// SessionTTL is the absolute and idle lifetime of customer and staff sessions.
type SessionTTL struct {
	Absolute, Idle, StaffAbsolute, StaffIdle time.Duration
}

// setting is one configuration entry: its environment name, its flag, its
// default, what it means (for --help and docs) and how its value is read.
type setting struct {
	env, flag, def, usage string
	// devOnly: def applies in development only; in production the setting
	// is empty unless given.
	devOnly bool
	// parse reads v (the value given, else the default) into c and says
	// what is wrong with it; a joined error is one problem per error. It
	// judges v alone: rules that involve MARBELLE_ENV are in checkEnvRules.
	parse func(c *Config, v string) error
}

// settings is every setting, in the order problems are listed. MARBELLE_ENV
// comes first: which defaults apply depends on it.
var settings = []setting{
	{env: "MARBELLE_ENV", flag: "env", def: "development", usage: "development or production",
		parse: func(c *Config, v string) error {
			c.Env = strings.ToLower(v)
			if c.Env != "development" && c.Env != "production" {
				err := fmt.Errorf("must be development or production, not %q", c.Env)
				c.Env = "production" // judge the rest strictly
				return err
			}
			return nil
		}},
	{env: "MARBELLE_DEV_ALLOW_PUBLIC", flag: "dev-allow-public", def: "false", usage: "true lets development listen on a non-loopback address, where anyone who reaches it reads the captured mail (production: ignored)",
		parse: func(c *Config, v string) error {
			switch v = strings.ToLower(v); v {
			case "true", "false":
				c.DevAllowPublic = v == "true"
				return nil
			}
			return fmt.Errorf("must be true or false, not %q", v)
		}},
	{env: "MARBELLE_ADDR", flag: "addr", def: "127.0.0.1:8080", usage: "listen address (development: loopback only, unless MARBELLE_DEV_ALLOW_PUBLIC=true)",
		parse: func(c *Config, v string) error {
			c.Addr = v
			return checkHostPort(v, "host:port")
		}},
	{env: "MARBELLE_DATA_DIR", flag: "data-dir", def: "./data", usage: "directory of the store file (and the development secret)",
		parse: func(c *Config, v string) error {
			c.DataDir = v
			if v == "" {
				return errors.New("must not be empty")
			}
			return nil
		}},
	{env: "MARBELLE_SECRET_KEY", flag: "secret-key", usage: "at least 32 bytes of key material (production: required; development: generated into the data dir)",
		parse: func(c *Config, v string) error {
			c.SecretKey = v
			if v != "" && len(v) < 32 {
				return fmt.Errorf("must be at least 32 bytes, got %d", len(v))
			}
			return nil
		}},
	{env: "MARBELLE_BASE_URL", flag: "base-url", usage: "public URL of the site, used in mailed links (development: http:// + the listen address)",
		parse: func(c *Config, v string) error {
			c.BaseURL = strings.TrimRight(v, "/")
			if c.BaseURL == "" {
				return nil
			}
			return checkBaseURL(c.BaseURL)
		}},
	{env: "MARBELLE_COOKIE_DOMAIN", flag: "cookie-domain", usage: "a domain the session cookie covers with all its subdomains, e.g. shop.example; it must contain the base URL's host (default: the cookie is the base URL's host only)",
		parse: func(c *Config, v string) (err error) {
			c.CookieDomain, err = parseCookieDomain(v)
			return err
		}},
	{env: "MARBELLE_CSRF_TRUSTED_ORIGINS", flag: "csrf-trusted-origins", usage: "origins allowed to send state-changing requests, comma-separated",
		parse: func(c *Config, v string) (err error) {
			c.CSRFTrustedOrigins, err = parseOrigins(v)
			return err
		}},
	{env: "MARBELLE_CORS_ALLOWED_ORIGINS", flag: "cors-allowed-origins", def: "http://localhost:3000,http://localhost:5173,http://127.0.0.1:3000,http://127.0.0.1:5173", devOnly: true, usage: "origins given CORS headers with credentials (production default: none)",
		parse: func(c *Config, v string) (err error) {
			c.CORSAllowedOrigins, err = parseOrigins(v)
			return err
		}},
	{env: "MARBELLE_ALLOWED_HOSTS", flag: "allowed-hosts", def: "localhost,127.0.0.1,[::1]", devOnly: true, usage: "Host header values served (production: required)",
		parse: func(c *Config, v string) error {
			c.AllowedHosts = splitList(strings.ToLower(v))
			if len(c.AllowedHosts) == 0 {
				return errors.New("must name at least one host (e.g. account.shop.example)")
			}
			return nil
		}},
	{env: "MARBELLE_TRUSTED_PROXIES", flag: "trusted-proxies", usage: "IPs or CIDRs whose X-Forwarded-For is believed",
		parse: func(c *Config, v string) error {
			var bad []error
			for _, p := range splitList(v) {
				prefix, err := parsePrefix(p)
				if err != nil {
					bad = append(bad, fmt.Errorf("%q is not an IP or CIDR", p))
					continue
				}
				c.TrustedProxies = append(c.TrustedProxies, prefix)
			}
			return errors.Join(bad...)
		}},
	{env: "MARBELLE_FORWARD_AUTH_HOSTS", flag: "forward-auth-hosts", usage: "hosts (host or host:port) whose pages a proxy puts behind Marbelle's forward auth; login returns to them (production: https only)",
		parse: func(c *Config, v string) (err error) {
			c.ForwardAuthHosts, err = parseHosts(v)
			return err
		}},
	// #nosec G101 -- user:pass in the help text shows the URL's shape; it is no credential
	{env: "MARBELLE_SMTP_URL", flag: "smtp-url", usage: "smtps://user:pass@host:465 or smtp://user:pass@host:587 (production: required; development: the built-in sink)",
		parse: optionalSetting(func(c *Config) *string { return &c.SMTPURL }, checkSMTPURL)},
	{env: "MARBELLE_MAIL_FROM", flag: "mail-from", def: "Marbelle <no-reply@localhost>", devOnly: true, usage: "From address of outgoing mail (production: required)",
		parse: func(c *Config, v string) error {
			c.MailFrom = v
			if v == "" { // production without it, or given empty
				return errors.New("is required in production (e.g. Shop <no-reply@shop.example>)")
			}
			return checkMailAddress(v)
		}},
	// Mail (#21): where replies to the shop's automatic mail go.
	{env: "MARBELLE_MAIL_REPLY_TO", flag: "mail-reply-to", def: "", usage: "Reply-To address of outgoing mail (empty: none)",
		parse: optionalSetting(func(c *Config) *string { return &c.MailReplyTo }, checkMailAddress)},
	{env: "MARBELLE_DEV_SMTP_ADDR", flag: "dev-smtp-addr", def: "127.0.0.1:1025", devOnly: true, usage: "where the development SMTP sink listens (off to disable)",
		parse: func(c *Config, v string) error {
			if v == "off" {
				v = ""
			}
			c.DevSMTPAddr = v
			if v == "" {
				return nil
			}
			return checkHostPort(v, "host:port or off")
		}},
	{env: "MARBELLE_DEFAULT_REGION", flag: "default-region", def: "DE", usage: "region (ISO 3166-1 alpha-2) for national phone numbers",
		parse: func(c *Config, v string) error {
			c.DefaultRegion = strings.ToUpper(v)
			if !validRegion(c.DefaultRegion) {
				return fmt.Errorf("%q is not a region with phone numbers (ISO 3166-1 alpha-2, e.g. DE)", c.DefaultRegion)
			}
			return nil
		}},
	{env: "MARBELLE_LOG_FORMAT", flag: "log-format", def: "text", usage: "text or json",
		parse: func(c *Config, v string) error {
			c.LogFormat = strings.ToLower(v)
			if c.LogFormat != "text" && c.LogFormat != "json" {
				return fmt.Errorf("must be text or json, not %q", c.LogFormat)
			}
			return nil
		}},
	{env: "MARBELLE_LOG_LEVEL", flag: "log-level", def: "info", usage: "debug, info, warn or error",
		parse: func(c *Config, v string) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return errors.New("must be debug, info, warn or error")
			}
			return nil
		}},
	{env: "MARBELLE_METRICS_ADDR", flag: "metrics-addr", usage: "private listen address for /metrics (off when empty)",
		parse: optionalSetting(func(c *Config) *string { return &c.MetricsAddr }, func(v string) error { return checkHostPort(v, "host:port") })},
	{env: "MARBELLE_RATE_LIMITS", flag: "rate-limits", usage: "overrides, e.g. login=5/1m,register=5/1m,token=3/1m,login_failures=10/15m,email_change=5/1h, or off",
		parse: func(c *Config, v string) (err error) {
			c.RateLimits, err = ratelimit.Parse(v)
			return err
		}},
	{env: "MARBELLE_TOKEN_TTL", flag: "token-ttl", usage: "e.g. verify=24h,reset=1h,email_change=24h",
		parse: func(c *Config, v string) error {
			c.TokenTTL = TokenTTL{Verify: 24 * time.Hour, Reset: time.Hour, EmailChange: 24 * time.Hour}
			return parseDurations(v, map[string]*time.Duration{
				"verify": &c.TokenTTL.Verify, "reset": &c.TokenTTL.Reset, "email_change": &c.TokenTTL.EmailChange,
			})
		}},
	{env: "MARBELLE_SESSION_TTL", flag: "session-ttl", usage: "e.g. absolute=672h,idle=168h,staff_absolute=12h,staff_idle=30m",
		parse: func(c *Config, v string) error {
			c.SessionTTL = SessionTTL{Absolute: 28 * 24 * time.Hour, Idle: 7 * 24 * time.Hour, StaffAbsolute: 12 * time.Hour, StaffIdle: 30 * time.Minute}
			return parseDurations(v, map[string]*time.Duration{
				"absolute": &c.SessionTTL.Absolute, "idle": &c.SessionTTL.Idle,
				"staff_absolute": &c.SessionTTL.StaffAbsolute, "staff_idle": &c.SessionTTL.StaffIdle,
			})
		}},
	{env: "MARBELLE_PASSWORD_MIN_LENGTH", flag: "password-min-length", def: "8", usage: "minimum password length in characters (8 to 128)",
		parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 8 || n > password.MaxLength {
				return fmt.Errorf("must be a whole number from 8 to %d", password.MaxLength)
			}
			c.PasswordMinLength = n
			return nil
		}},
	{env: "MARBELLE_SITE_NAME", flag: "site-name", def: "Marbelle", usage: "the shop's name, shown in pages and mail",
		parse: func(c *Config, v string) error {
			c.SiteName = v
			if v == "" || len(v) > 100 || strings.ContainsAny(v, "\r\n") {
				return errors.New("must be 1 to 100 characters on one line")
			}
			return nil
		}},
	{env: "MARBELLE_PASSWORD_HASH", flag: "password-hash", def: "m=65536,t=3,p=1", usage: "argon2id parameters (production refuses below m=19456,t=2,p=1)",
		parse: func(c *Config, v string) (err error) {
			c.PasswordHash, err = password.ParseParams(v)
			return err
		}},
	{env: "MARBELLE_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "20s", usage: "how long shutdown waits for requests in flight",
		parse: durationAtLeast(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, time.ParseDuration, time.Nanosecond, "must be a positive duration such as 20s")},
	{env: "MARBELLE_SWEEP_INTERVAL", flag: "sweep-interval", def: "5m", usage: "how often expired tokens and sessions and old sent mail are pruned",
		parse: durationAtLeast(func(c *Config) *time.Duration { return &c.SweepInterval }, time.ParseDuration, time.Second, "must be a duration of at least 1s, such as 5m")},
	{env: "MARBELLE_MAIL_RETENTION", flag: "mail-retention", def: "720h", usage: "how long sent mail is kept in the outbox",
		parse: durationAtLeast(func(c *Config) *time.Duration { return &c.MailRetention }, time.ParseDuration, time.Nanosecond, "must be a positive duration such as 720h")},
	{env: "MARBELLE_AUDIT_RETENTION", flag: "audit-retention", def: "400d", usage: "how long audit events are kept (a Go duration, or days such as 400d)",
		parse: durationAtLeast(func(c *Config) *time.Duration { return &c.AuditRetention }, parseDays, 24*time.Hour, "must be at least a day, such as 400d or 9600h")},
	// Webhooks (#17).
	{env: "MARBELLE_WEBHOOK_RETENTION", flag: "webhook-retention", def: "7d", usage: "how long delivered and failed webhook deliveries are kept (a Go duration, or days such as 7d)",
		parse: durationAtLeast(func(c *Config) *time.Duration { return &c.WebhookRetention }, parseDays, time.Hour, "must be at least an hour, such as 7d or 168h")},
	{env: "MARBELLE_WEBHOOK_ALLOW_HTTP", flag: "webhook-allow-http", def: "false", usage: "in production, accept http:// webhook endpoints on hosts other than loopback",
		parse: func(c *Config, v string) (err error) {
			if c.WebhookAllowHTTP, err = strconv.ParseBool(v); err != nil {
				return errors.New("must be true or false")
			}
			return nil
		}},
	{env: "MARBELLE_STORE_RELEASE_INTERVAL", flag: "store-release-interval", def: "1s", usage: "how often the store file's pages mapped by reads are given back to the page cache (off: never)",
		parse: func(c *Config, v string) (err error) {
			if v == "off" {
				return nil
			}
			if c.StoreRelease, err = time.ParseDuration(v); err != nil || c.StoreRelease < 100*time.Millisecond {
				return errors.New("must be off or a duration of at least 100ms, such as 1s")
			}
			return nil
		}},
	{env: "MARBELLE_DEFAULT_LANGUAGE", flag: "default-language", def: "en", usage: "language of pages, mail and API messages when neither the account nor the browser names one we have (en, de, or one added in DATA_DIR/templates/i18n)",
		parse: func(c *Config, v string) error {
			c.DefaultLanguage = strings.ToLower(v)
			if len(v) < 2 || len(v) > 3 || strings.Trim(c.DefaultLanguage, "abcdefghijklmnopqrstuvwxyz") != "" {
				return fmt.Errorf("%q is not a language code such as en or de", v)
			}
			return nil
		}},
	{env: "MARBELLE_SECURITY_NOTICES", flag: "security-notices", def: "all", usage: "security notices mailed to account owners: all, none, or a list of password_changed, password_reset, email_changed, new_device, account_deleted, sign_in_methods_changed",
		parse: func(c *Config, v string) (err error) {
			c.SecurityNotices, err = parseNotices(v)
			return err
		}},
	// Second factors (mfa.go). The default depends on MARBELLE_ENV, read first.
	{env: "MARBELLE_STAFF_MFA", flag: "staff-mfa", usage: "required: staff need a second factor (TOTP or a passkey) for admin; optional (default: required in production, optional in development)",
		parse: func(c *Config, v string) error {
			switch strings.ToLower(v) {
			case "":
				c.StaffMFARequired = c.Production()
			case "required":
				c.StaffMFARequired = true
			case "optional":
				c.StaffMFARequired = false
			default:
				return errors.New("must be required or optional")
			}
			return nil
		}},
	// Each provider's own settings (MARBELLE_OIDC_<NAME>_*) are read by
	// parseOIDC, once this list is known.
	{env: "MARBELLE_OIDC_PROVIDERS", flag: "oidc-providers", usage: "OpenID providers customers may sign in with: google, apple, microsoft, or names of a shop's own, each with MARBELLE_OIDC_<NAME>_CLIENT_ID, _CLIENT_SECRET, _ISSUER (docs/sign-in-providers.md)",
		parse: func(c *Config, v string) error { return nil }},
}

// value is the setting's value in raw (by environment name), else its
// default where one applies.
func (s setting) value(raw map[string]string, production bool) string {
	if v, ok := raw[s.env]; ok {
		return v
	}
	if production && s.devOnly {
		return ""
	}
	return s.def
}

// ConfigError lists every missing or invalid setting at once.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// configProblems are what is wrong with the settings, by environment name.
type configProblems map[string][]string

// add records err against the setting name, one problem per error it joins.
func (p configProblems) add(name string, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			p.add(name, e)
		}
		return
	}
	p[name] = append(p[name], name+": "+err.Error())
}

// err is a ConfigError listing the problems in the order of the settings
// table, or nil when there are none.
func (p configProblems) err() error {
	var list []string
	for _, s := range settings {
		list = append(list, p[s.env]...)
	}
	if len(list) == 0 {
		return nil
	}
	return &ConfigError{Problems: list}
}

// LoadConfig reads the environment through getenv, then the flags in args
// (which override it), and validates the result. --help prints the flags to
// out and returns flag.ErrHelp.
func LoadConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("marbelle serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: marbelle serve [flags]\n\nServes the API, the web UI and (in development) the mail sink.\nEvery flag overrides its environment variable.\n\n")
		fs.PrintDefaults()
	}
	flags := make(map[string]*string, len(settings))
	for _, s := range settings {
		flags[s.env] = fs.String(s.flag, "", s.usage+" ("+s.env+")")
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	raw := make(map[string]string, len(settings))
	for _, s := range settings {
		if set[s.flag] { // a flag, once given, is set, even to ""
			raw[s.env] = strings.TrimSpace(*flags[s.env])
		} else if v, ok := fromEnv(getenv, s.env); ok {
			raw[s.env] = v
		}
	}
	for _, name := range splitList(strings.ToLower(raw["MARBELLE_OIDC_PROVIDERS"])) {
		for _, suffix := range oidcSuffixes {
			if v, ok := fromEnv(getenv, oidcEnv(name, suffix)); ok {
				raw[oidcEnv(name, suffix)] = v
			}
		}
	}
	return parseConfig(raw)
}

// SettingFlag defines the flag of the setting named env on fs, for a
// command other than serve that takes it. Its default is the environment's
// value, else the table's, so that --help shows what applies; the value is
// not validated.
func SettingFlag(fs *flag.FlagSet, env string, getenv func(string) string) *string {
	s := lookupSetting(env)
	def, ok := fromEnv(getenv, env)
	if !ok {
		def = s.def
	}
	return fs.String(s.flag, def, s.usage+" ("+env+")")
}

// SettingDefault is the default of the setting named env, for help texts.
func SettingDefault(env string) string { return lookupSetting(env).def }

// LoadSettings reads only the named settings, from the environment or their
// defaults, for a command that needs one or two of them; the rest of the
// Config stays zero. Each is judged on its own, as in development: the rules
// of checkEnvRules do not apply.
func LoadSettings(getenv func(string) string, names ...string) (Config, error) {
	var c Config
	problems := configProblems{}
	for _, name := range names {
		s := lookupSetting(name)
		v, ok := fromEnv(getenv, name)
		if !ok {
			v = s.def
		}
		if err := s.parse(&c, v); err != nil {
			problems.add(name, err)
		}
	}
	return c, problems.err()
}

// lookupSetting is the setting named env; a name not in the table is a
// programming error, like a flag defined twice.
func lookupSetting(env string) setting {
	for _, s := range settings {
		if s.env == env {
			return s
		}
	}
	panic("app: no setting " + env)
}

// fromEnv reads the environment variable name, trimmed; empty counts as
// unset.
func fromEnv(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	return v, v != ""
}

// parseConfig validates the settings in raw (by environment name); a name
// absent from raw is unset.
func parseConfig(raw map[string]string) (Config, error) {
	var c Config
	problems := configProblems{}
	for _, s := range settings {
		if err := s.parse(&c, s.value(raw, c.Production())); err != nil {
			problems.add(s.env, err)
		}
	}
	parseOIDC(&c, raw, problems)
	checkEnvRules(&c, problems)
	return c, problems.err()
}

// checkEnvRules applies the rules that depend on MARBELLE_ENV, once every
// setting has been read on its own: production requires what development
// defaults or generates and refuses what is unsafe; development listens on
// loopback only. A setting that did not parse is not judged again.
func checkEnvRules(c *Config, problems configProblems) {
	parsed := func(name string) bool { return len(problems[name]) == 0 }
	if c.CookieDomain != "" && parsed("MARBELLE_COOKIE_DOMAIN") && parsed("MARBELLE_BASE_URL") {
		if err := checkCookieDomain(c.CookieDomain, c.BaseURL); err != nil {
			problems.add("MARBELLE_COOKIE_DOMAIN", err)
		}
	}
	if !c.Production() {
		if parsed("MARBELLE_ADDR") && !c.DevAllowPublic && !loopbackAddr(c.Addr) {
			// Development serves every captured mail, reset links included, at
			// /api/v1/dev/mail with no login: only this machine may reach it.
			problems.add("MARBELLE_ADDR", fmt.Errorf("%q is not a loopback address, and development mode shows every captured mail (reset links included) to anyone who reaches it: "+
				"set MARBELLE_ENV=production with its settings, listen on 127.0.0.1 (e.g. MARBELLE_ADDR=127.0.0.1:8080), "+
				"or set MARBELLE_DEV_ALLOW_PUBLIC=true if you know what you are doing", c.Addr))
		}
		return
	}
	if c.SecretKey == "" {
		problems.add("MARBELLE_SECRET_KEY", errors.New("is required in production (at least 32 bytes)"))
	}
	if c.BaseURL == "" {
		problems.add("MARBELLE_BASE_URL", errors.New("is required in production (e.g. https://account.shop.example)"))
	}
	if slices.Contains(c.AllowedHosts, "*") {
		problems.add("MARBELLE_ALLOWED_HOSTS", errors.New("* (any host) is refused in production: name the hosts"))
	}
	if c.SMTPURL == "" {
		problems.add("MARBELLE_SMTP_URL", errors.New("is required in production (smtps://user:pass@host:465 or smtp://user:pass@host:587)"))
	}
	c.DevSMTPAddr = "" // the sink exists in development only
	if parsed("MARBELLE_RATE_LIMITS") && c.RateLimits.Off {
		problems.add("MARBELLE_RATE_LIMITS", errors.New("off is refused in production"))
	}
	if floor := password.Floor(); parsed("MARBELLE_PASSWORD_HASH") && !c.PasswordHash.AtLeast(floor) {
		problems.add("MARBELLE_PASSWORD_HASH", fmt.Errorf("is below the floor %s", floor)) // m=…,t=…,p=…
	}
}

// securityNotices are the notices a shop can turn off one by one.
var securityNotices = []string{"password_changed", "password_reset", "email_changed", "new_device", "account_deleted", "sign_in_methods_changed"}

func parseNotices(v string) (map[string]bool, error) {
	on := map[string]bool{}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "all":
		for _, n := range securityNotices {
			on[n] = true
		}
		return on, nil
	case "none":
		return on, nil
	}
	for _, n := range splitList(strings.ToLower(v)) {
		if !slices.Contains(securityNotices, n) {
			return nil, fmt.Errorf("unknown notice %q (known: %s, or all, or none)", n, strings.Join(securityNotices, ", "))
		}
		on[n] = true
	}
	return on, nil
}

// optionalSetting is the parse func of a text setting kept in the field
// at points to: empty leaves it unset, anything else must pass check.
func optionalSetting(at func(c *Config) *string, check func(v string) error) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		*at(c) = v
		if v == "" {
			return nil
		}
		return check(v)
	}
}

// checkHostPort refuses a listen address that is not host:port; want
// says what the setting takes.
func checkHostPort(v, want string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return fmt.Errorf("must be %s, not %q", want, v)
	}
	return nil
}

// checkMailAddress refuses what is not one mail address on one line.
func checkMailAddress(v string) error {
	if a, err := mail.ParseAddress(v); err != nil || strings.ContainsAny(v, "\r\n") || !strings.Contains(a.Address, "@") {
		return fmt.Errorf("%q is not a mail address", v)
	}
	return nil
}

// durationAtLeast is the parse func of a duration setting kept in the
// field at points to, read by parse (time.ParseDuration, or parseDays to
// take days too): an unreadable value, or one below least, fails with msg.
func durationAtLeast(at func(c *Config) *time.Duration, parse func(string) (time.Duration, error), least time.Duration, msg string) func(c *Config, v string) error {
	return func(c *Config, v string) error {
		d, err := parse(v)
		*at(c) = d
		if err != nil || d < least {
			return errors.New(msg)
		}
		return nil
	}
}

// parseDays reads a Go duration or a whole number of days ("400d").
func parseDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("%q: want a number of days, e.g. 400d", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// splitList splits a comma-separated value, trimming items and dropping empty ones.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func checkBaseURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", v)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry a query, fragment or user", v)
	}
	return nil
}

// parseCookieDomain reads a cookie domain: a host name of at least two
// labels that is not itself a public suffix (browsers refuse a cookie for
// "com" or "co.uk", and a single label is a TLD or a local name), and not
// an IP address (a cookie for an IP covers that host only). A leading dot
// is dropped, as browsers do.
func parseCookieDomain(v string) (string, error) {
	d := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(v)), ".")
	if d == "" {
		return "", nil
	}
	if _, err := netip.ParseAddr(strings.Trim(d, "[]")); err == nil {
		return "", fmt.Errorf("%q is an IP address: name a domain such as shop.example", v)
	}
	if len(d) > 253 {
		return "", fmt.Errorf("%q is longer than a host name may be", v)
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if !hostLabel(l) {
			return "", fmt.Errorf("%q is not a host name (letters, digits and hyphens, in dot-separated labels)", v)
		}
	}
	if len(labels) < 2 {
		return "", fmt.Errorf("%q is a single label (a top-level domain or a local name): name a domain such as shop.example", v)
	}
	if suffix, _ := publicsuffix.PublicSuffix(d); suffix == d {
		return "", fmt.Errorf("%q is a public suffix, shared by unrelated sites: name the shop's own domain under it", v)
	}
	return d, nil
}

// hostLabel reports whether l is one label of a host name (RFC 1123).
func hostLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkCookieDomain says what is wrong with a cookie domain for a server
// at baseURL: browsers refuse a cookie whose domain does not contain the
// host that sets it.
func checkCookieDomain(domain, baseURL string) error {
	if baseURL == "" {
		return errors.New("needs MARBELLE_BASE_URL, whose host it must contain")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return err
	}
	host := strings.ToLower(u.Hostname())
	if host != domain && !strings.HasSuffix(host, "."+domain) {
		return fmt.Errorf("%q does not contain the base URL's host %q, so browsers would refuse the cookie", domain, host)
	}
	return nil
}

// parseOrigins reads scheme://host[:port] origins, the form that
// CrossOriginProtection and the Origin header use.
func parseOrigins(v string) ([]string, error) {
	var out []string
	for _, o := range splitList(v) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out, nil
}

// parseHosts reads host or host:port items (no scheme, path or wildcard),
// lower-cased.
func parseHosts(v string) ([]string, error) {
	var out []string
	var bad []error
	for _, h := range splitList(strings.ToLower(v)) {
		u, err := url.Parse("//" + h)
		if err != nil || u.Host != h || u.Hostname() == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || strings.ContainsAny(h, "*\\ ") {
			bad = append(bad, fmt.Errorf("%q is not a host or host:port (e.g. shop.example, or shop.example:8443)", h))
			continue
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				bad = append(bad, fmt.Errorf("%q has no valid port", h))
				continue
			}
		}
		out = append(out, h)
	}
	return out, errors.Join(bad...)
}

// ForwardAuthOrigins are the origins of the forward-auth hosts, the only
// ones besides its own that a login may return to: https, and in
// development http as well. Each is written as a browser's URL.origin
// writes it (no default port), so that both sides compare strings.
func (c *Config) ForwardAuthOrigins() []string {
	schemes := []string{"https"}
	if !c.Production() {
		schemes = append(schemes, "http")
	}
	var out []string
	for _, h := range c.ForwardAuthHosts {
		for _, scheme := range schemes {
			out = append(out, origin(scheme, h))
		}
	}
	return out
}

// origin is scheme://host, the host without the scheme's default port.
func origin(scheme, host string) string {
	host = strings.ToLower(host)
	switch scheme {
	case "https":
		host = strings.TrimSuffix(host, ":443")
	case "http":
		host = strings.TrimSuffix(host, ":80")
	}
	return scheme + "://" + host
}

// loopbackAddr reports whether the listen address host:port takes
// connections from this machine only. A host name other than localhost
// counts as public: what it resolves to is not known here, and an empty
// host is every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkSMTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("is not a URL")
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return fmt.Errorf("scheme must be smtps or smtp, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("needs a host")
	}
	if u.Path != "" && u.Path != "/" {
		return errors.New("must not have a path")
	}
	return nil
}

// parseDurations reads name=duration pairs into the named targets.
func parseDurations(v string, into map[string]*time.Duration) error {
	for _, item := range splitList(v) {
		name, val, ok := strings.Cut(item, "=")
		target := into[strings.TrimSpace(name)]
		if !ok || target == nil {
			return fmt.Errorf("unknown item %q", item)
		}
		d, err := time.ParseDuration(strings.TrimSpace(val))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration", val)
		}
		*target = d
	}
	return nil
}
