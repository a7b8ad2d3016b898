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
)

// Config is every setting of the contract, resolved and validated.
type Config struct {
	Env                string // "development" or "production"
	Addr               string
	DevAllowPublic     bool // development may listen on a non-loopback address
	DataDir            string
	SecretKey          string // empty in development until the data dir supplies one
	BaseURL            string // no trailing slash; empty in development means "from the listener"
	CSRFTrustedOrigins []string
	CORSAllowedOrigins []string
	AllowedHosts       []string
	TrustedProxies     []netip.Prefix
	SMTPURL            string
	MailFrom           string
	DevSMTPAddr        string // "" or "off" disables the sink
	DefaultRegion      string
	LogFormat          string // "text" or "json"
	LogLevel           slog.Level
	MetricsAddr        string
	RateLimits         RateLimits
	TokenTTL           TokenTTL
	SessionTTL         SessionTTL
	PasswordMinLength  int
	SiteName           string
	PasswordHash       Argon2Params
	ShutdownTimeout    time.Duration
	SweepInterval      time.Duration // how often expired tokens, sessions and old sent mail are pruned
	StoreRelease       time.Duration // how often mapped store pages are given back; 0 = never
	MailRetention      time.Duration // how long sent mail stays in the outbox
	AuditRetention     time.Duration // how long audit events are kept
	// SecurityNotices are the notices mailed to account owners (all by default).
	SecurityNotices map[string]bool
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
// development default and what it means (for --help and docs).
type setting struct {
	env, flag, def, usage string
}

var settings = []setting{
	{"MARBELLE_ENV", "env", "development", "development or production"},
	{"MARBELLE_ADDR", "addr", "127.0.0.1:8080", "listen address (development: loopback only, unless MARBELLE_DEV_ALLOW_PUBLIC=true)"},
	{"MARBELLE_DEV_ALLOW_PUBLIC", "dev-allow-public", "false", "true lets development listen on a non-loopback address, where anyone who reaches it reads the captured mail (production: ignored)"},
	{"MARBELLE_DATA_DIR", "data-dir", "./data", "directory of the store file (and the development secret)"},
	{"MARBELLE_SECRET_KEY", "secret-key", "", "at least 32 bytes of key material (production: required; development: generated into the data dir)"},
	{"MARBELLE_BASE_URL", "base-url", "", "public URL of the site, used in mailed links (development: http:// + the listen address)"},
	{"MARBELLE_CSRF_TRUSTED_ORIGINS", "csrf-trusted-origins", "", "origins allowed to send state-changing requests, comma-separated"},
	{"MARBELLE_CORS_ALLOWED_ORIGINS", "cors-allowed-origins", "http://localhost:3000,http://localhost:5173,http://127.0.0.1:3000,http://127.0.0.1:5173", "origins given CORS headers with credentials (production default: none)"},
	{"MARBELLE_ALLOWED_HOSTS", "allowed-hosts", "localhost,127.0.0.1,[::1]", "Host header values served (production: required)"},
	{"MARBELLE_TRUSTED_PROXIES", "trusted-proxies", "", "IPs or CIDRs whose X-Forwarded-For is believed"},
	{"MARBELLE_SMTP_URL", "smtp-url", "", "smtps://user:pass@host:465 or smtp://user:pass@host:587 (production: required; development: the built-in sink)"},
	{"MARBELLE_MAIL_FROM", "mail-from", "Marbelle <no-reply@localhost>", "From address of outgoing mail (production: required)"},
	{"MARBELLE_DEV_SMTP_ADDR", "dev-smtp-addr", "127.0.0.1:1025", "where the development SMTP sink listens (off to disable)"},
	{"MARBELLE_DEFAULT_REGION", "default-region", "DE", "region (ISO 3166-1 alpha-2) for national phone numbers"},
	{"MARBELLE_LOG_FORMAT", "log-format", "text", "text or json"},
	{"MARBELLE_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
	{"MARBELLE_METRICS_ADDR", "metrics-addr", "", "private listen address for /metrics (off when empty)"},
	{"MARBELLE_RATE_LIMITS", "rate-limits", "", "overrides, e.g. login=5/1m,register=5/1m,token=3/1m,login_failures=10/15m,email_change=5/1h, or off"},
	{"MARBELLE_TOKEN_TTL", "token-ttl", "", "e.g. verify=24h,reset=1h,email_change=24h"},
	{"MARBELLE_SESSION_TTL", "session-ttl", "", "e.g. absolute=672h,idle=168h,staff_absolute=12h,staff_idle=30m"},
	{"MARBELLE_PASSWORD_MIN_LENGTH", "password-min-length", "8", "minimum password length in characters (8 to 128)"},
	{"MARBELLE_SITE_NAME", "site-name", "Marbelle", "the shop's name, shown in pages and mail"},
	{"MARBELLE_PASSWORD_HASH", "password-hash", "m=65536,t=3,p=1", "argon2id parameters (production refuses below m=19456,t=2,p=1)"},
	{"MARBELLE_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "how long shutdown waits for requests in flight"},
	{"MARBELLE_SECURITY_NOTICES", "security-notices", "all", "security notices mailed to account owners: all, none, or a list of password_changed, password_reset, email_changed, new_device, account_deleted"},
	{"MARBELLE_SWEEP_INTERVAL", "sweep-interval", "5m", "how often expired tokens and sessions and old sent mail are pruned"},
	{"MARBELLE_MAIL_RETENTION", "mail-retention", "720h", "how long sent mail is kept in the outbox"},
	{"MARBELLE_AUDIT_RETENTION", "audit-retention", "400d", "how long audit events are kept (a Go duration, or days such as 400d)"},
	{"MARBELLE_STORE_RELEASE_INTERVAL", "store-release-interval", "1s", "how often the store file's pages mapped by reads are given back to the page cache (off: never)"},
}

// ConfigError lists every missing or invalid setting at once.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
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
	// An empty environment variable counts as unset; a flag, once given, is set.
	raw := make(map[string]string, len(settings))
	for _, s := range settings {
		if set[s.flag] {
			raw[s.env] = strings.TrimSpace(*flags[s.env])
		} else if v := strings.TrimSpace(getenv(s.env)); v != "" {
			raw[s.env] = v
		}
	}
	return parseConfig(raw)
}

// parseConfig validates the settings in raw (by environment name); a name
// absent from raw is unset.
func parseConfig(raw map[string]string) (Config, error) {
	var problems []string
	bad := func(name, format string, a ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, a...))
	}
	unset := func(name string) bool { _, ok := raw[name]; return !ok }

	var c Config
	c.Env = strings.ToLower(orDefault(raw, "MARBELLE_ENV"))
	if c.Env != "development" && c.Env != "production" {
		bad("MARBELLE_ENV", "must be development or production, not %q", c.Env)
		c.Env = "production" // judge the rest strictly
	}
	prod := c.Production()
	// In production nothing falls back to a development default except
	// where the default is safe everywhere.
	value := func(name string) string {
		if prod && unset(name) {
			switch name {
			case "MARBELLE_CORS_ALLOWED_ORIGINS", "MARBELLE_ALLOWED_HOSTS", "MARBELLE_MAIL_FROM", "MARBELLE_DEV_SMTP_ADDR":
				return ""
			}
		}
		return orDefault(raw, name)
	}

	switch v := strings.ToLower(value("MARBELLE_DEV_ALLOW_PUBLIC")); v {
	case "true", "false":
		c.DevAllowPublic = v == "true"
	default:
		bad("MARBELLE_DEV_ALLOW_PUBLIC", "must be true or false, not %q", v)
	}
	c.Addr = value("MARBELLE_ADDR")
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("MARBELLE_ADDR", "must be host:port, not %q", c.Addr)
	} else if !prod && !c.DevAllowPublic && !loopbackAddr(c.Addr) {
		// Development serves every captured mail, reset links included, at
		// /api/v1/dev/mail with no login: only this machine may reach it.
		bad("MARBELLE_ADDR", "%q is not a loopback address, and development mode shows every captured mail (reset links included) to anyone who reaches it: "+
			"set MARBELLE_ENV=production with its settings, listen on 127.0.0.1 (e.g. MARBELLE_ADDR=127.0.0.1:8080), "+
			"or set MARBELLE_DEV_ALLOW_PUBLIC=true if you know what you are doing", c.Addr)
	}
	c.DataDir = value("MARBELLE_DATA_DIR")
	if c.DataDir == "" {
		bad("MARBELLE_DATA_DIR", "must not be empty")
	}

	c.SecretKey = raw["MARBELLE_SECRET_KEY"]
	if c.SecretKey == "" && prod {
		bad("MARBELLE_SECRET_KEY", "is required in production (at least 32 bytes)")
	} else if c.SecretKey != "" && len(c.SecretKey) < 32 {
		bad("MARBELLE_SECRET_KEY", "must be at least 32 bytes, got %d", len(c.SecretKey))
	}

	c.BaseURL = strings.TrimRight(value("MARBELLE_BASE_URL"), "/")
	if c.BaseURL == "" && prod {
		bad("MARBELLE_BASE_URL", "is required in production (e.g. https://account.shop.example)")
	} else if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			bad("MARBELLE_BASE_URL", "%v", err)
		}
	}

	var err error
	if c.CSRFTrustedOrigins, err = parseOrigins(value("MARBELLE_CSRF_TRUSTED_ORIGINS")); err != nil {
		bad("MARBELLE_CSRF_TRUSTED_ORIGINS", "%v", err)
	}
	if c.CORSAllowedOrigins, err = parseOrigins(value("MARBELLE_CORS_ALLOWED_ORIGINS")); err != nil {
		bad("MARBELLE_CORS_ALLOWED_ORIGINS", "%v", err)
	}
	c.AllowedHosts = splitList(strings.ToLower(value("MARBELLE_ALLOWED_HOSTS")))
	if len(c.AllowedHosts) == 0 {
		bad("MARBELLE_ALLOWED_HOSTS", "must name at least one host (e.g. account.shop.example)")
	} else if prod && slices.Contains(c.AllowedHosts, "*") {
		bad("MARBELLE_ALLOWED_HOSTS", "* (any host) is refused in production: name the hosts")
	}
	for _, p := range splitList(value("MARBELLE_TRUSTED_PROXIES")) {
		prefix, err := parsePrefix(p)
		if err != nil {
			bad("MARBELLE_TRUSTED_PROXIES", "%q is not an IP or CIDR", p)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, prefix)
	}

	c.SMTPURL = value("MARBELLE_SMTP_URL")
	if c.SMTPURL == "" && prod {
		bad("MARBELLE_SMTP_URL", "is required in production (smtps://user:pass@host:465 or smtp://user:pass@host:587)")
	} else if c.SMTPURL != "" {
		if err := checkSMTPURL(c.SMTPURL); err != nil {
			bad("MARBELLE_SMTP_URL", "%v", err)
		}
	}
	c.MailFrom = value("MARBELLE_MAIL_FROM")
	if c.MailFrom == "" {
		bad("MARBELLE_MAIL_FROM", "is required in production (e.g. Shop <no-reply@shop.example>)")
	} else if a, err := mail.ParseAddress(c.MailFrom); err != nil || strings.ContainsAny(c.MailFrom, "\r\n") || !strings.Contains(a.Address, "@") {
		bad("MARBELLE_MAIL_FROM", "%q is not a mail address", c.MailFrom)
	}
	c.DevSMTPAddr = value("MARBELLE_DEV_SMTP_ADDR")
	if c.DevSMTPAddr == "off" {
		c.DevSMTPAddr = ""
	}
	if c.DevSMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.DevSMTPAddr); err != nil {
			bad("MARBELLE_DEV_SMTP_ADDR", "must be host:port or off, not %q", c.DevSMTPAddr)
		}
	}
	if prod {
		c.DevSMTPAddr = "" // the sink exists in development only
	}

	c.DefaultRegion = strings.ToUpper(value("MARBELLE_DEFAULT_REGION"))
	if !validRegion(c.DefaultRegion) {
		bad("MARBELLE_DEFAULT_REGION", "%q is not a region with phone numbers (ISO 3166-1 alpha-2, e.g. DE)", c.DefaultRegion)
	}
	c.LogFormat = strings.ToLower(value("MARBELLE_LOG_FORMAT"))
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("MARBELLE_LOG_FORMAT", "must be text or json, not %q", c.LogFormat)
	}
	if err := c.LogLevel.UnmarshalText([]byte(value("MARBELLE_LOG_LEVEL"))); err != nil {
		bad("MARBELLE_LOG_LEVEL", "must be debug, info, warn or error")
	}
	c.MetricsAddr = value("MARBELLE_METRICS_ADDR")
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("MARBELLE_METRICS_ADDR", "must be host:port, not %q", c.MetricsAddr)
		}
	}
	if c.RateLimits, err = parseRateLimits(value("MARBELLE_RATE_LIMITS")); err != nil {
		bad("MARBELLE_RATE_LIMITS", "%v", err)
	} else if c.RateLimits.Off && prod {
		bad("MARBELLE_RATE_LIMITS", "off is refused in production")
	}

	c.TokenTTL = TokenTTL{Verify: 24 * time.Hour, Reset: time.Hour, EmailChange: 24 * time.Hour}
	if err := parseDurations(value("MARBELLE_TOKEN_TTL"), map[string]*time.Duration{
		"verify": &c.TokenTTL.Verify, "reset": &c.TokenTTL.Reset, "email_change": &c.TokenTTL.EmailChange,
	}); err != nil {
		bad("MARBELLE_TOKEN_TTL", "%v", err)
	}
	c.SessionTTL = SessionTTL{Absolute: 28 * 24 * time.Hour, Idle: 7 * 24 * time.Hour, StaffAbsolute: 12 * time.Hour, StaffIdle: 30 * time.Minute}
	if err := parseDurations(value("MARBELLE_SESSION_TTL"), map[string]*time.Duration{
		"absolute": &c.SessionTTL.Absolute, "idle": &c.SessionTTL.Idle,
		"staff_absolute": &c.SessionTTL.StaffAbsolute, "staff_idle": &c.SessionTTL.StaffIdle,
	}); err != nil {
		bad("MARBELLE_SESSION_TTL", "%v", err)
	}

	if n, err := strconv.Atoi(value("MARBELLE_PASSWORD_MIN_LENGTH")); err != nil || n < 8 || n > maxPasswordLength {
		bad("MARBELLE_PASSWORD_MIN_LENGTH", "must be a whole number from 8 to %d", maxPasswordLength)
	} else {
		c.PasswordMinLength = n
	}
	c.SiteName = value("MARBELLE_SITE_NAME")
	if c.SiteName == "" || len(c.SiteName) > 100 || strings.ContainsAny(c.SiteName, "\r\n") {
		bad("MARBELLE_SITE_NAME", "must be 1 to 100 characters on one line")
	}
	if c.PasswordHash, err = parseArgon2Params(value("MARBELLE_PASSWORD_HASH")); err != nil {
		bad("MARBELLE_PASSWORD_HASH", "%v", err)
	} else if prod && !c.PasswordHash.AtLeast(argon2Floor) {
		bad("MARBELLE_PASSWORD_HASH", "is below the floor m=%d,t=%d,p=%d", argon2Floor.Memory, argon2Floor.Time, argon2Floor.Threads)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(value("MARBELLE_SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		bad("MARBELLE_SHUTDOWN_TIMEOUT", "must be a positive duration such as 20s")
	}
	if c.SweepInterval, err = time.ParseDuration(value("MARBELLE_SWEEP_INTERVAL")); err != nil || c.SweepInterval < time.Second {
		bad("MARBELLE_SWEEP_INTERVAL", "must be a duration of at least 1s, such as 5m")
	}
	if c.MailRetention, err = time.ParseDuration(value("MARBELLE_MAIL_RETENTION")); err != nil || c.MailRetention <= 0 {
		bad("MARBELLE_MAIL_RETENTION", "must be a positive duration such as 720h")
	}
	if c.AuditRetention, err = parseDays(value("MARBELLE_AUDIT_RETENTION")); err != nil || c.AuditRetention < 24*time.Hour {
		bad("MARBELLE_AUDIT_RETENTION", "must be at least a day, such as 400d or 9600h")
	}
	if v := value("MARBELLE_STORE_RELEASE_INTERVAL"); v != "off" {
		if c.StoreRelease, err = time.ParseDuration(v); err != nil || c.StoreRelease < 100*time.Millisecond {
			bad("MARBELLE_STORE_RELEASE_INTERVAL", "must be off or a duration of at least 100ms, such as 1s")
		}
	}

	if c.SecurityNotices, err = parseNotices(value("MARBELLE_SECURITY_NOTICES")); err != nil {
		bad("MARBELLE_SECURITY_NOTICES", "%v", err)
	}

	if len(problems) > 0 {
		return c, &ConfigError{Problems: problems}
	}
	return c, nil
}

// securityNotices are the notices a shop can turn off one by one.
var securityNotices = []string{"password_changed", "password_reset", "email_changed", "new_device", "account_deleted"}

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

func orDefault(raw map[string]string, name string) string {
	if v, ok := raw[name]; ok {
		return v
	}
	for _, s := range settings {
		if s.env == name {
			return s.def
		}
	}
	return ""
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
