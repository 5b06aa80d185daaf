package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"situ/api"
)

// The tokens of the authorization tests.
const (
	adminToken   = "situ_admin-0123456789abcdefghijklmnopqrstuvwxyz0"
	analystToken = "situ_analyst-0123456789abcdefghijklmnopqrstuvwxy"
	scoreToken   = "situ_score-0123456789abcdefghijklmnopqrstuvwxyz0"
	wrongToken   = "situ_wrong-0123456789abcdefghijklmnopqrstuvwxyz0"
)

var allTokens = []string{adminToken, analystToken, scoreToken, wrongToken}

func tokenEntry(name string, role api.Role, token string) api.Token {
	return api.Token{Name: name, Role: role, SHA256: sha256.Sum256([]byte(token))}
}

func mustTokens(t *testing.T, list ...api.Token) api.Tokens {
	t.Helper()
	tokens, err := api.NewTokens(list)
	require.NoError(t, err)
	return tokens
}

// authServer serves three guarded routes on a loopback listener: an
// analyst read, an admin write and the score route. Each answers 200 with
// the principal the middleware left in the context.
func authServer(t *testing.T, tokens api.Tokens) *httptest.Server {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	whoami := func(c *gin.Context) {
		p, ok := api.PrincipalFrom(c)
		c.JSON(http.StatusOK, gin.H{"authenticated": ok, "name": p.Name, "role": p.Role})
	}
	admin := e.Group("/v1/admin")
	admin.GET("/config", api.RequireRole(tokens, api.RoleAnalyst), whoami)
	admin.POST("/rollback", api.RequireRole(tokens, api.RoleAdmin), whoami)
	e.POST(api.RouteScore, api.ScoreAccess(tokens), whoami)
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return ts
}

type authAnswer struct {
	status    int
	code      string // error.code, empty for a 200
	message   string
	challenge string // WWW-Authenticate
	principal string // name, for a 200
}

// call sends method path with the Authorization header values given
// (none when nil) and checks what every answer must hold: JSON, no token
// echoed, the problem shape for errors.
func call(t *testing.T, ts *httptest.Server, method, path string, authorization ...string) authAnswer {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{}`)
	}
	var header http.Header
	if authorization != nil {
		header = http.Header{"Authorization": authorization}
	}
	r := send(t, ts.Client(), method, ts.URL+path, body, header)
	require.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	for _, tok := range allTokens {
		require.NotContains(t, string(r.body), tok, "an answer never echoes a token")
		require.NotContains(t, strings.Join(r.header.Values("WWW-Authenticate"), ""), tok)
	}
	a := authAnswer{status: r.status, challenge: r.header.Get("WWW-Authenticate")}
	if r.status == http.StatusOK {
		var who struct {
			Authenticated bool   `json:"authenticated"`
			Name          string `json:"name"`
		}
		require.NoError(t, json.Unmarshal(r.body, &who))
		a.principal = who.Name
		require.Equal(t, who.Name != "", who.Authenticated)
		return a
	}
	var problem struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&problem), "body %s", r.body)
	require.NotEmpty(t, problem.Error.Message)
	a.code, a.message = problem.Error.Code, problem.Error.Message
	return a
}

func TestAuthorizationMatrix(t *testing.T) {
	ts := authServer(t, mustTokens(t,
		tokenEntry("ana", api.RoleAdmin, adminToken),
		tokenEntry("carl", api.RoleAnalyst, analystToken),
		tokenEntry("ivr-frontend", api.RoleScore, scoreToken),
	))
	type want struct {
		status int
		code   string
	}
	var (
		ok           = want{http.StatusOK, ""}
		unauthorized = want{http.StatusUnauthorized, api.CodeUnauthorized}
		forbidden    = want{http.StatusForbidden, api.CodeForbidden}
		inQuery      = want{http.StatusBadRequest, api.CodeTokenInQuery}
	)
	credentials := []struct {
		name          string
		header        []string
		query         string
		principal     string
		wantChallenge string
	}{
		{name: "no token"},
		{name: "wrong token", header: []string{"Bearer " + wrongToken}},
		{name: "admin token in the query string", query: "?access_token=" + adminToken},
		{name: "score token", header: []string{"Bearer " + scoreToken}, principal: "ivr-frontend"},
		{name: "analyst token", header: []string{"Bearer " + analystToken}, principal: "carl"},
		{name: "admin token", header: []string{"Bearer " + adminToken}, principal: "ana"},
	}
	routes := []struct {
		method, path string
		want         []want // per credential, in order
	}{
		{http.MethodGet, "/v1/admin/config", []want{unauthorized, unauthorized, inQuery, forbidden, ok, ok}},
		{http.MethodPost, "/v1/admin/rollback", []want{unauthorized, unauthorized, inQuery, forbidden, forbidden, ok}},
		{http.MethodPost, api.RouteScore, []want{unauthorized, unauthorized, inQuery, ok, forbidden, ok}},
	}
	for _, r := range routes {
		for i, cred := range credentials {
			t.Run(r.method+" "+r.path+"/"+cred.name, func(t *testing.T) {
				got := call(t, ts, r.method, r.path+cred.query, cred.header...)
				require.Equal(t, r.want[i].status, got.status, "message %q", got.message)
				require.Equal(t, r.want[i].code, got.code)
				switch got.status {
				case http.StatusOK:
					require.Equal(t, cred.principal, got.principal)
				case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest:
					require.True(t, strings.HasPrefix(got.challenge, `Bearer realm="situ"`), "WWW-Authenticate %q", got.challenge)
				}
			})
		}
	}
}

func TestForbiddenNamesTheRoles(t *testing.T) {
	ts := authServer(t, mustTokens(t,
		tokenEntry("carl", api.RoleAnalyst, analystToken),
		tokenEntry("ivr-frontend", api.RoleScore, scoreToken),
	))
	cases := []struct {
		name, method, path, token, want string
	}{
		{"analyst on an admin write", http.MethodPost, "/v1/admin/rollback", analystToken,
			`this needs role admin; token "carl" has role analyst`},
		{"score on an analyst read", http.MethodGet, "/v1/admin/config", scoreToken,
			`this needs role analyst (or admin); token "ivr-frontend" has role score`},
		{"analyst on the score route", http.MethodPost, api.RouteScore, analystToken,
			`this needs role score (or admin); token "carl" has role analyst`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, ts, tc.method, tc.path, "Bearer "+tc.token)
			require.Equal(t, http.StatusForbidden, got.status)
			require.Equal(t, tc.want, got.message)
			require.Equal(t, `Bearer realm="situ", error="insufficient_scope"`, got.challenge)
		})
	}
}

func TestAuthorizationHeaderShapes(t *testing.T) {
	ts := authServer(t, mustTokens(t, tokenEntry("carl", api.RoleAnalyst, analystToken)))
	cases := []struct {
		name          string
		header        []string
		query         string
		wantStatus    int
		wantMessage   string // substring
		wantChallenge string
	}{
		{name: "scheme in lower case", header: []string{"bearer " + analystToken}, wantStatus: http.StatusOK},
		{name: "scheme in upper case", header: []string{"BEARER " + analystToken}, wantStatus: http.StatusOK},
		{name: "two spaces", header: []string{"Bearer  " + analystToken}, wantStatus: http.StatusOK},
		{name: "a harmless query", header: []string{"Bearer " + analystToken}, query: "?treatment=self_service&x=situ_short", wantStatus: http.StatusOK},
		{name: "no header", wantStatus: http.StatusUnauthorized, wantMessage: "this route needs a token: send the header Authorization: Bearer <token>",
			wantChallenge: `Bearer realm="situ"`},
		{name: "empty header", header: []string{""}, wantStatus: http.StatusUnauthorized, wantMessage: "must read Bearer <token>",
			wantChallenge: `Bearer realm="situ", error="invalid_token"`},
		{name: "basic", header: []string{"Basic Y2FybDpzZWNyZXQ="}, wantStatus: http.StatusUnauthorized, wantMessage: "other schemes are not accepted"},
		{name: "token without scheme", header: []string{analystToken}, wantStatus: http.StatusUnauthorized, wantMessage: "must read Bearer <token>"},
		{name: "scheme without token", header: []string{"Bearer"}, wantStatus: http.StatusUnauthorized, wantMessage: "no token after Bearer"},
		{name: "two tokens in one header", header: []string{"Bearer " + analystToken + ", Bearer " + analystToken}, wantStatus: http.StatusUnauthorized, wantMessage: "exactly one token"},
		{name: "two headers", header: []string{"Bearer " + analystToken, "Bearer " + analystToken}, wantStatus: http.StatusUnauthorized, wantMessage: "exactly one Authorization header, got 2"},
		{name: "wrong token", header: []string{"Bearer " + wrongToken}, wantStatus: http.StatusUnauthorized, wantMessage: "the token is not valid",
			wantChallenge: `Bearer realm="situ", error="invalid_token"`},
		{name: "token parameter", header: []string{"Bearer " + analystToken}, query: "?token=" + analystToken, wantStatus: http.StatusBadRequest,
			wantMessage: `credentials are never accepted in the query string (parameter "token")`, wantChallenge: `Bearer realm="situ", error="invalid_request"`},
		{name: "access_token in upper case", query: "?ACCESS_TOKEN=" + analystToken, wantStatus: http.StatusBadRequest, wantMessage: `(parameter "access_token")`},
		{name: "Authorization parameter", query: "?Authorization=Bearer%20" + analystToken, wantStatus: http.StatusBadRequest, wantMessage: `(parameter "authorization")`},
		{name: "a bearer value under another name", query: "?h=bearer%20" + wrongToken, wantStatus: http.StatusBadRequest, wantMessage: "so replace it"},
		{name: "a situ token under another name", query: "?x=" + wrongToken, wantStatus: http.StatusBadRequest, wantMessage: "never accepted in the query string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, ts, http.MethodGet, "/v1/admin/config"+tc.query, tc.header...)
			require.Equal(t, tc.wantStatus, got.status, "message %q", got.message)
			require.Contains(t, got.message, tc.wantMessage)
			if tc.wantChallenge != "" {
				require.Equal(t, tc.wantChallenge, got.challenge)
			}
		})
	}
}

func TestScoreOpenWithoutScoreTokens(t *testing.T) {
	ts := authServer(t, mustTokens(t, tokenEntry("admin.token", api.RoleAdmin, adminToken), tokenEntry("carl", api.RoleAnalyst, analystToken)))
	cases := []struct {
		name          string
		header        []string
		query         string
		wantStatus    int
		wantPrincipal string
	}{
		{name: "no token", wantStatus: http.StatusOK},
		{name: "a harmless query", query: "?pretty=1", wantStatus: http.StatusOK},
		{name: "a valid token is recorded", header: []string{"Bearer " + analystToken}, wantStatus: http.StatusOK, wantPrincipal: "carl"},
		{name: "a wrong token is refused", header: []string{"Bearer " + wrongToken}, wantStatus: http.StatusUnauthorized},
		{name: "a malformed header is refused", header: []string{"Basic Y2FybDpzZWNyZXQ="}, wantStatus: http.StatusUnauthorized},
		{name: "a token in the query is refused", query: "?access_token=" + adminToken, wantStatus: http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, ts, http.MethodPost, api.RouteScore+tc.query, tc.header...)
			require.Equal(t, tc.wantStatus, got.status, "message %q", got.message)
			require.Equal(t, tc.wantPrincipal, got.principal)
		})
	}
	// The admin routes stay guarded.
	require.Equal(t, http.StatusUnauthorized, call(t, ts, http.MethodGet, "/v1/admin/config").status)
}

func TestAuthenticate(t *testing.T) {
	tokens := mustTokens(t,
		tokenEntry("ana", api.RoleAdmin, adminToken),
		tokenEntry("carl", api.RoleAnalyst, analystToken),
		tokenEntry("ivr-frontend", api.RoleScore, scoreToken),
	)
	cases := []struct {
		name      string
		tokens    api.Tokens
		presented string
		want      api.Principal
		wantOK    bool
	}{
		{"first entry", tokens, adminToken, api.Principal{Name: "ana", Role: api.RoleAdmin}, true},
		{"middle entry", tokens, analystToken, api.Principal{Name: "carl", Role: api.RoleAnalyst}, true},
		{"last entry", tokens, scoreToken, api.Principal{Name: "ivr-frontend", Role: api.RoleScore}, true},
		{"unknown token", tokens, wrongToken, api.Principal{}, false},
		{"a token with a trailing newline is another token", tokens, adminToken + "\n", api.Principal{}, false},
		{"the hash instead of the token", tokens, sha256Hex(adminToken), api.Principal{}, false},
		{"empty", tokens, "", api.Principal{}, false},
		{"no tokens accept nothing", api.Tokens{}, adminToken, api.Principal{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.tokens.Authenticate(tc.presented)
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, 3, tokens.Len())
	require.True(t, tokens.Has(api.RoleScore))
	require.False(t, mustTokens(t, tokenEntry("ana", api.RoleAdmin, adminToken)).Has(api.RoleScore))
}

func sha256Hex(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func TestPrincipalSatisfies(t *testing.T) {
	cases := []struct {
		role  api.Role
		route []api.Role
		want  bool
	}{
		{api.RoleAdmin, []api.Role{api.RoleAdmin}, true},
		{api.RoleAdmin, []api.Role{api.RoleAnalyst}, true},
		{api.RoleAdmin, []api.Role{api.RoleScore}, true},
		{api.RoleAnalyst, []api.Role{api.RoleAnalyst}, true},
		{api.RoleAnalyst, []api.Role{api.RoleAdmin}, false},
		{api.RoleAnalyst, []api.Role{api.RoleScore}, false},
		{api.RoleScore, []api.Role{api.RoleScore}, true},
		{api.RoleScore, []api.Role{api.RoleAnalyst}, false},
		{api.RoleScore, []api.Role{api.RoleAnalyst, api.RoleScore}, true},
		{api.RoleScore, nil, true},
		{"", nil, false},
		{"root", []api.Role{"root"}, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.role)+" on ["+strings.Join(roleStrings(tc.route), ",")+"]", func(t *testing.T) {
			require.Equal(t, tc.want, api.Principal{Name: "p", Role: tc.role}.Satisfies(tc.route...))
		})
	}
}

func roleStrings(rs []api.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func TestParseTokens(t *testing.T) {
	h := sha256Hex
	cases := []struct {
		name    string
		doc     string
		want    map[string]api.Role // token → role it authenticates as
		wantErr []string            // substrings of the error
	}{
		{name: "the documented example", doc: `
tokens:
  - {name: ana, role: admin, sha256: "` + h(adminToken) + `"}
  - {name: ivr-frontend, role: score, sha256: "` + h(scoreToken) + `"}
`, want: map[string]api.Role{adminToken: api.RoleAdmin, scoreToken: api.RoleScore}},
		{name: "block style, upper-case hex", doc: "tokens:\n  - name: carl@example.org\n    role: analyst\n    sha256: " + strings.ToUpper(h(analystToken)) + "\n",
			want: map[string]api.Role{analystToken: api.RoleAnalyst}},
		{name: "empty document", doc: "", wantErr: []string{"auth file: empty; it needs a tokens list"}},
		{name: "no tokens", doc: "tokens: []\n", wantErr: []string{"auth file: tokens: none given; an auth file needs at least one token"}},
		{name: "unknown top-level field", doc: "tokens: []\nusers: []\n", wantErr: []string{"field users not found"}},
		{name: "unknown entry field", doc: "tokens:\n  - {name: ana, role: admin, sha256: \"" + h(adminToken) + "\", token: secret}\n", wantErr: []string{"field token not found"}},
		{name: "two documents", doc: "tokens:\n  - {name: ana, role: admin, sha256: \"" + h(adminToken) + "\"}\n---\ntokens: []\n", wantErr: []string{"more than one YAML document"}},
		{name: "every bad entry is named", doc: `
tokens:
  - {name: ana, role: admin, sha256: "` + h(adminToken) + `"}
  - {name: ana, role: analyst, sha256: "` + h(analystToken) + `"}
  - {name: bob, role: root, sha256: "` + h(scoreToken) + `"}
  - {name: eve, role: score, sha256: "` + h(adminToken) + `"}
  - {name: "has space", role: score, sha256: "` + h(wrongToken) + `"}
`, wantErr: []string{
			`tokens[1].name: "ana" is also the name of tokens[0]; names must be distinct`,
			`tokens[2].role: "root" is not a role; roles are admin, analyst and score`,
			`tokens[3].sha256: the same hash as tokens[0] ("ana"); every token must be different`,
			`tokens[4].name: "has space" must be 1 to 64 letters`,
		}},
		{name: "sha256 of the wrong length", doc: "tokens:\n  - {name: a, role: admin, sha256: \"" + h(adminToken) + "\"}\n  - {name: b, role: admin, sha256: \"" + adminToken + "\"}\n  - {name: c, role: admin, sha256: \"\"}\n",
			wantErr: []string{"tokens[1].sha256: must be 64 hex digits", `printf %s "$TOKEN" | sha256sum`, "tokens[2].sha256: must be 64 hex digits"}},
		{name: "sha256 not hex", doc: "tokens:\n  - {name: a, role: admin, sha256: \"" + strings.Repeat("zz", 32) + "\"}\n",
			wantErr: []string{"tokens[0].sha256: must be 64 hex digits"}},
		{name: "hash of the empty string", doc: "tokens:\n  - {name: a, role: admin, sha256: \"" + h("") + "\"}\n",
			wantErr: []string{"tokens[0].sha256: is the SHA-256 of the empty string"}},
		{name: "missing role", doc: "tokens:\n  - {name: a, sha256: \"" + h(adminToken) + "\"}\n",
			wantErr: []string{`tokens[0].role: "" is not a role`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tokens, err := api.ParseTokens([]byte(tc.doc))
			if tc.wantErr != nil {
				require.Error(t, err)
				for _, w := range tc.wantErr {
					require.ErrorContains(t, err, w)
				}
				require.NotContains(t, err.Error(), "secret")
				return
			}
			require.NoError(t, err)
			require.Equal(t, len(tc.want), tokens.Len())
			for tok, role := range tc.want {
				p, ok := tokens.Authenticate(tok)
				require.True(t, ok)
				require.Equal(t, role, p.Role)
			}
		})
	}
}

func TestLoadTokensNamesTheFile(t *testing.T) {
	path := t.TempDir() + "/auth.yaml"
	_, err := api.LoadTokens(path)
	require.ErrorContains(t, err, "auth file: open "+path)
	require.NoError(t, os.WriteFile(path, []byte("tokens:\n  - {name: a, role: admin, sha256: \"abc\"}\n"), 0o644))
	_, err = api.LoadTokens(path)
	require.ErrorContains(t, err, "auth file "+path+": tokens[0].sha256: must be 64 hex digits")
}

func TestCheckScoreExposure(t *testing.T) {
	adminOnly := mustTokens(t, tokenEntry("admin.token", api.RoleAdmin, adminToken))
	withScore := mustTokens(t, tokenEntry("admin.token", api.RoleAdmin, adminToken), tokenEntry("ivr", api.RoleScore, scoreToken))
	cases := []struct {
		name      string
		addr      string
		tokens    api.Tokens
		allowOpen bool
		wantErr   string
	}{
		{name: "loopback IPv4", addr: "127.0.0.1:8080", tokens: adminOnly},
		{name: "loopback IPv4, another address of 127/8", addr: "127.0.0.2:8080", tokens: adminOnly},
		{name: "loopback IPv6", addr: "[::1]:8080", tokens: adminOnly},
		{name: "IPv4-mapped loopback", addr: "[::ffff:127.0.0.1]:8080", tokens: adminOnly},
		{name: "localhost", addr: "localhost:8080", tokens: adminOnly},
		{name: "no tokens at all on loopback", addr: "127.0.0.1:0", tokens: api.Tokens{}},
		{name: "all IPv4 interfaces", addr: "0.0.0.0:8080", tokens: adminOnly, wantErr: "0.0.0.0:8080 listens on 0.0.0.0 and no token with role score is configured"},
		{name: "all IPv6 interfaces", addr: "[::]:8080", tokens: adminOnly, wantErr: "listens on ::"},
		{name: "empty host", addr: ":8080", tokens: adminOnly, wantErr: ":8080 listens on every interface"},
		{name: "LAN address", addr: "192.168.1.20:8080", tokens: adminOnly, wantErr: "listens on 192.168.1.20"},
		{name: "host name", addr: "situ.internal:8080", tokens: adminOnly, wantErr: "listens on situ.internal"},
		{name: "all interfaces, explicitly allowed", addr: "0.0.0.0:8080", tokens: adminOnly, allowOpen: true},
		{name: "empty host, explicitly allowed", addr: ":8080", tokens: adminOnly, allowOpen: true},
		{name: "score tokens: all interfaces", addr: "0.0.0.0:8080", tokens: withScore},
		{name: "score tokens: empty host", addr: ":8080", tokens: withScore},
		{name: "score tokens: loopback", addr: "127.0.0.1:8080", tokens: withScore},
		{name: "malformed address", addr: "8080", tokens: withScore, wantErr: `listen address "8080"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := api.CheckScoreExposure(tc.addr, tc.tokens, tc.allowOpen)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
			if !strings.HasPrefix(tc.wantErr, "listen address") {
				require.True(t, errors.Is(err, api.ErrOpenScore))
				require.ErrorContains(t, err, "--allow-open-score")
			}
		})
	}
}
