package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"

	"situ/internal/secrets"
)

// Error codes of the access-control answers.
const (
	CodeUnauthorized = "unauthorized"   // 401: no token, a malformed Authorization header, or a token that is not valid
	CodeForbidden    = "forbidden"      // 403: a valid token whose role may not use the route
	CodeTokenInQuery = "token_in_query" // 400: a credential in the query string, which is never accepted
)

// Role is what a token may do.
type Role string

// The roles. RoleAdmin satisfies every role.
const (
	// RoleAdmin may change the configuration (admin writes) and do
	// everything the other roles may.
	RoleAdmin Role = "admin"
	// RoleAnalyst may read the admin API and dry-run changes.
	RoleAnalyst Role = "analyst"
	// RoleScore may call POST /v1/score and POST /v1/outcomes.
	RoleScore Role = "score"
)

func (r Role) valid() bool { return r == RoleAdmin || r == RoleAnalyst || r == RoleScore }

// Principal is who made a request: the name and role of its token.
type Principal struct {
	Name string
	Role Role
}

// Satisfies reports whether p may use a route open to any of roles. An
// admin satisfies every role; no roles means any authenticated principal.
func (p Principal) Satisfies(roles ...Role) bool {
	if !p.Role.valid() {
		return false
	}
	return len(roles) == 0 || p.Role == RoleAdmin || slices.Contains(roles, p.Role)
}

// Token is one accepted token: its name (in logs and the audit trail), its
// role and the SHA-256 of the token. The token itself is never kept.
type Token struct {
	Name   string
	Role   Role
	SHA256 [sha256.Size]byte
}

// Tokens are the accepted tokens. The zero value accepts none.
type Tokens struct {
	entries []Token
}

var tokenNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// NewTokens checks the list (names: letters, digits, '.', '_', '@', '-',
// at most 64; known roles; distinct names and hashes) and returns it as
// Tokens. The generated admin token is
// NewTokens([]Token{{Name: "admin.token", Role: RoleAdmin, SHA256: sum}}).
func NewTokens(list []Token) (Tokens, error) {
	var errs []error
	names := map[string]int{}
	sums := map[[sha256.Size]byte]int{}
	for i, t := range list {
		if !tokenNamePattern.MatchString(t.Name) {
			errs = append(errs, fmt.Errorf("tokens[%d].name: %q must be 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", i, t.Name))
		} else if j, dup := names[t.Name]; dup {
			errs = append(errs, fmt.Errorf("tokens[%d].name: %q is also the name of tokens[%d]; names must be distinct", i, t.Name, j))
		} else {
			names[t.Name] = i
		}
		if !t.Role.valid() {
			errs = append(errs, fmt.Errorf("tokens[%d].role: %q is not a role; roles are admin, analyst and score", i, t.Role))
		}
		if j, dup := sums[t.SHA256]; dup {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: the same hash as tokens[%d] (%q); every token must be different", i, j, list[j].Name))
		} else {
			sums[t.SHA256] = i
		}
		if t.SHA256 == emptySHA256 {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: is the SHA-256 of the empty string, not of a token", i))
		}
	}
	if len(errs) > 0 {
		return Tokens{}, errors.Join(errs...)
	}
	return Tokens{entries: slices.Clone(list)}, nil
}

var emptySHA256 = sha256.Sum256(nil)

// authFile is the --auth-file document.
type authFile struct {
	Tokens []authFileToken `yaml:"tokens"`
}

type authFileToken struct {
	Name   string `yaml:"name"`
	Role   string `yaml:"role"`
	SHA256 string `yaml:"sha256"`
}

// ParseTokens parses an auth file:
//
//	tokens:
//	  - {name: ana, role: admin, sha256: "<hex SHA-256 of the token>"}
//	  - {name: ivr-frontend, role: score, sha256: "..."}
//
// Unknown fields are errors, and so is every entry that NewTokens refuses
// or whose sha256 is not 64 hex digits; each error names its entry
// (tokens[2].sha256: ...). The hash of a token is what
// printf %s "$TOKEN" | sha256sum prints.
func ParseTokens(doc []byte) (Tokens, error) {
	t, err := parseTokens(doc)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth file: %w", err)
	}
	return t, nil
}

// LoadTokens reads and parses the auth file at path (ParseTokens).
func LoadTokens(path string) (Tokens, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth file: %w", err)
	}
	t, err := parseTokens(doc)
	if err != nil {
		return Tokens{}, fmt.Errorf("auth file %s: %w", path, err)
	}
	return t, nil
}

func parseTokens(doc []byte) (Tokens, error) {
	var f authFile
	dec := yaml.NewDecoder(strings.NewReader(string(doc)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return Tokens{}, errors.New("empty; it needs a tokens list")
		}
		return Tokens{}, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return Tokens{}, errors.New("more than one YAML document")
	}
	if len(f.Tokens) == 0 {
		return Tokens{}, errors.New("tokens: none given; an auth file needs at least one token")
	}
	list := make([]Token, len(f.Tokens))
	var errs []error
	for i, ft := range f.Tokens {
		list[i] = Token{Name: ft.Name, Role: Role(ft.Role)}
		if len(ft.SHA256) != 2*sha256.Size {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: must be 64 hex digits (the SHA-256 of the token, as printf %%s \"$TOKEN\" | sha256sum prints it), got %d characters", i, len(ft.SHA256)))
			continue
		}
		if _, err := hex.Decode(list[i].SHA256[:], []byte(ft.SHA256)); err != nil {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: must be 64 hex digits (the SHA-256 of the token, as printf %%s \"$TOKEN\" | sha256sum prints it)", i))
		}
	}
	if len(errs) > 0 {
		return Tokens{}, errors.Join(errs...)
	}
	return NewTokens(list)
}

// Len returns the number of tokens.
func (t Tokens) Len() int { return len(t.entries) }

// Has reports whether a token with role r is configured.
func (t Tokens) Has(r Role) bool {
	return slices.ContainsFunc(t.entries, func(e Token) bool { return e.Role == r })
}

// Authenticate returns the principal of the presented token. It hashes
// the token once and compares the hash with every entry in constant time,
// visiting all of them, so the time taken does not tell which entry (if
// any) matched.
func (t Tokens) Authenticate(presented string) (Principal, bool) {
	if presented == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(presented))
	match, found := 0, 0
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(sum[:], t.entries[i].SHA256[:])
		match = subtle.ConstantTimeSelect(eq, i, match)
		found |= eq
	}
	if found == 0 {
		return Principal{}, false
	}
	e := t.entries[match]
	return Principal{Name: e.Name, Role: e.Role}, true
}

// principalKey is where the access-control middleware leaves the
// Principal in the gin context.
const principalKey = "situ.principal"

// PrincipalFrom returns the principal the access-control middleware
// authenticated for this request; false when the route is open and no
// token was sent.
func PrincipalFrom(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(principalKey)
	if !ok {
		return Principal{}, false
	}
	p, ok := v.(Principal)
	return p, ok
}

// RequireRole admits requests whose Authorization: Bearer token belongs to
// a principal that satisfies one of roles (an admin satisfies every role)
// and leaves the principal in the gin context (PrincipalFrom). Otherwise
// it answers and aborts:
//
//   - 400 token_in_query for a credential in the query string
//     (access_token, token, authorization, api_key or a value that is a
//     bearer token or a situ_ token), whatever the header says;
//   - 401 unauthorized, with WWW-Authenticate: Bearer realm="situ", when
//     there is no Authorization header, more than one, another scheme than
//     Bearer (in any case), or a token that is not valid;
//   - 403 forbidden naming the role needed and the role held.
//
// No answer echoes what was sent.
func RequireRole(tokens Tokens, roles ...Role) gin.HandlerFunc {
	roles = slices.Clone(roles)
	return func(c *gin.Context) {
		p, ok := authenticate(c, tokens, true)
		if !ok {
			return
		}
		if !p.Satisfies(roles...) {
			forbid(c, p, roles...)
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// ScoreAccess guards the score routes (/v1/score, /v1/outcomes). When
// tokens include a score token it is RequireRole(tokens, RoleScore): a
// score or admin token on every request. Otherwise the routes are open
// (CheckScoreExposure decides at start whether that is allowed on the
// listen address): no token is needed, but one that is sent must be valid
// (a client configured with a wrong token learns it), and credentials in
// the query string are refused as everywhere.
func ScoreAccess(tokens Tokens) gin.HandlerFunc {
	if tokens.Has(RoleScore) {
		return RequireRole(tokens, RoleScore)
	}
	return func(c *gin.Context) {
		if c.Request.URL.RawQuery == "" && len(c.Request.Header["Authorization"]) == 0 {
			c.Next() // the common case: nothing to check
			return
		}
		p, ok := authenticate(c, tokens, false)
		if !ok {
			return
		}
		if p.Role != "" {
			c.Set(principalKey, p)
		}
		c.Next()
	}
}

// authenticate finds the principal of the request's bearer token. When it
// returns false it has answered and aborted. With required false, a
// request without an Authorization header gets the zero Principal and true.
func authenticate(c *gin.Context, tokens Tokens, required bool) (Principal, bool) {
	if name, found := queryCredential(c.Request.URL.RawQuery); found {
		msg := "credentials are never accepted in the query string"
		if name != "" {
			msg += " (parameter " + strconv.Quote(name) + ")"
		}
		msg += ": send the header Authorization: Bearer <token>; a token sent in a URL may have been logged on the way, so replace it"
		abortAuth(c, http.StatusBadRequest, CodeTokenInQuery, `Bearer realm="situ", error="invalid_request"`, msg)
		return Principal{}, false
	}
	values := c.Request.Header["Authorization"]
	switch {
	case len(values) == 0 && !required:
		return Principal{}, true
	case len(values) == 0:
		abortAuth(c, http.StatusUnauthorized, CodeUnauthorized, `Bearer realm="situ"`, "this route needs a token: send the header Authorization: Bearer <token>")
		return Principal{}, false
	case len(values) > 1:
		unauthorized(c, "send exactly one Authorization header, got "+strconv.Itoa(len(values)))
		return Principal{}, false
	}
	scheme, token, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		unauthorized(c, "the Authorization header must read Bearer <token>; other schemes are not accepted")
		return Principal{}, false
	}
	token = strings.TrimLeft(token, " ")
	switch {
	case token == "":
		unauthorized(c, "the Authorization header holds no token after Bearer")
		return Principal{}, false
	case strings.ContainsAny(token, " \t,"):
		unauthorized(c, "the Authorization header must hold exactly one token: Bearer <token>")
		return Principal{}, false
	}
	p, ok := tokens.Authenticate(token)
	if !ok {
		unauthorized(c, "the token is not valid")
		return Principal{}, false
	}
	return p, true
}

// credentialParams are query parameters that carry credentials by
// convention (RFC 6750 section 2.3 and common practice), lowercase.
var credentialParams = []string{"access_token", "token", "authorization", "api_key", "apikey", "bearer_token"}

// queryCredential reports whether the raw query carries a credential: a
// parameter of credentialParams (in any case; its name is returned), or a
// value that reads "Bearer ..." or looks like a situ token (name "").
func queryCredential(rawQuery string) (name string, found bool) {
	if rawQuery == "" {
		return "", false
	}
	q, _ := url.ParseQuery(rawQuery) // what does not parse carries nothing
	for k, vs := range q {
		if slices.Contains(credentialParams, strings.ToLower(k)) {
			return strings.ToLower(k), true
		}
		for _, v := range vs {
			if len(v) >= 7 && strings.EqualFold(v[:7], "bearer ") ||
				strings.HasPrefix(v, secrets.TokenPrefix) && len(v) >= len(secrets.TokenPrefix)+32 {
				return "", true
			}
		}
	}
	return "", false
}

func unauthorized(c *gin.Context, message string) {
	abortAuth(c, http.StatusUnauthorized, CodeUnauthorized, `Bearer realm="situ", error="invalid_token"`, message)
}

// forbid answers 403 for a principal whose role may not do what it asked.
// Handlers that refine a route's role (an analyst may only dry-run
// changes) call it too.
func forbid(c *gin.Context, p Principal, roles ...Role) {
	need := "an authenticated token"
	if len(roles) > 0 {
		names := make([]string, 0, len(roles))
		for _, r := range roles {
			names = append(names, string(r))
		}
		need = "role " + strings.Join(names, " or ")
		if !slices.Contains(roles, RoleAdmin) {
			need += " (or admin)"
		}
	}
	abortAuth(c, http.StatusForbidden, CodeForbidden, `Bearer realm="situ", error="insufficient_scope"`,
		"this needs "+need+"; token "+strconv.Quote(p.Name)+" has role "+string(p.Role))
}

// abortAuth answers with the JSON problem every situ error has,
// {"error":{"code":…,"message":…}}, through writeProblem's path (so the
// request log carries its error_code), adds the WWW-Authenticate
// challenge and Cache-Control: no-store, and aborts the handler chain.
func abortAuth(c *gin.Context, status int, code, challenge, message string) {
	h := c.Writer.Header()
	h["Www-Authenticate"] = []string{challenge}
	h["Cache-Control"] = []string{"no-store"}
	c.Abort()
	p := problem{status: status, code: code, message: message}
	c.Set(problemKey, p)
	writeJSON(c, status, appendProblem(make([]byte, 0, 64+len(message)), p))
}

// ErrOpenScore is returned (wrapped) by CheckScoreExposure when the score
// routes would be open beyond this machine.
var ErrOpenScore = errors.New("score routes open beyond this machine")

// CheckScoreExposure decides at start whether the score routes may be
// open. With a score token configured they are not open (ScoreAccess
// requires a score or admin token on every address): nil. Without one they
// are, which is fine on a loopback address (127.0.0.0/8, ::1, localhost),
// where the README's curl works without a token; on any other listen
// address (0.0.0.0, ::, an empty host, a LAN address, a host name) it
// returns an error wrapping ErrOpenScore unless allowOpenScore
// (--allow-open-score) says that is intended.
func CheckScoreExposure(listenAddr string, tokens Tokens, allowOpenScore bool) error {
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listenAddr, err)
	}
	if tokens.Has(RoleScore) || allowOpenScore || loopbackHost(host) {
		return nil
	}
	where := host
	if host == "" {
		where = "every interface"
	}
	return fmt.Errorf("%w: %s listens on %s and no token with role score is configured, so anyone who can reach it may score and post outcomes; add a score token to --auth-file, listen on 127.0.0.1, or pass --allow-open-score", ErrOpenScore, listenAddr, where)
}

// loopbackHost reports whether a listen host only reaches this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
