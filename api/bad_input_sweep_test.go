package api_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
	"situ/internal/controltest"
)

// TestEveryRouteAnswersBadInputWithA4xxJSONProblem sweeps every route the
// API registers, over real HTTP on loopback, with an admin token: every
// method it does not serve (405 with Allow), and for every route that
// takes a body, each kind of bad body — not JSON, the wrong JSON type, an
// unknown field, an empty body, a non-JSON content type, a compressed
// body, one over MaxBodyBytes with and without Content-Length. Each answer
// is a 4xx JSON problem with a code and a message; so is a route that
// does not exist, under /v1/ and elsewhere.
func TestEveryRouteAnswersBadInputWithA4xxJSONProblem(t *testing.T) {
	plane := controltest.New(t)
	cfg := api.Config{Decider: newEngine(t, nil), Outcomes: &recordingSink{}, Tokens: adminTokens(t), Control: plane,
		Registerer: prometheus.NewRegistry()}
	s, err := api.New(cfg)
	require.NoError(t, err)
	addr, cancel, served := serveLoopback(t, s.Serve)
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
	})
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	base := "http://" + addr

	routes := s.Handler().(*gin.Engine).Routes()
	methods := map[string][]string{}
	for _, r := range routes {
		methods[r.Path] = append(methods[r.Path], r.Method)
	}
	require.NotEmpty(t, methods[api.RouteScore])
	require.NotEmpty(t, methods[api.RouteAdminExperimentResults])

	check := func(t *testing.T, method, path, contentType string, body []byte, header http.Header, status int) {
		t.Helper()
		h := http.Header{"Authorization": {"Bearer " + adminToken}}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		for k, v := range header {
			h[k] = v
		}
		res := send(t, client, method, base+path, bytes.NewReader(body), h)
		if status != 0 {
			require.Equal(t, status, res.status, "%s %s: %s", method, path, res.body)
		}
		require.GreaterOrEqual(t, res.status, 400, "%s %s: %s", method, path, res.body)
		require.Less(t, res.status, 500, "%s %s: %s", method, path, res.body)
		if method == http.MethodHead {
			require.Empty(t, res.body)
			return
		}
		decodeProblem(t, res)
	}

	big := `{"a":"` + strings.Repeat("x", api.DefaultMaxBodyBytes) + `"}`
	for path, served := range methods {
		concrete := strings.NewReplacer(":version", "1", ":id", "philosophy").Replace(path)
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			if slices.Contains(served, m) {
				continue
			}
			t.Run("405 "+m+" "+path, func(t *testing.T) {
				check(t, m, concrete, "", nil, nil, http.StatusMethodNotAllowed)
			})
		}
		if !slices.Contains(served, http.MethodPost) {
			continue
		}
		for _, tc := range []struct {
			name        string
			contentType string
			body        string
			header      http.Header
			status      int
		}{
			{"not JSON", "application/json", "{not json", nil, http.StatusBadRequest},
			{"an array", "application/json", "[1,2]", nil, http.StatusBadRequest},
			{"an unknown field", "application/json", `{"no_such_field":1}`, nil, 0},
			{"empty", "application/json", "", nil, 0},
			{"data after the object", "application/json", `{} {}`, nil, http.StatusBadRequest},
			{"invalid UTF-8", "application/json", "{\"a\":\"\xff\"}", nil, http.StatusBadRequest},
			{"text/plain", "text/plain", `{}`, nil, http.StatusUnsupportedMediaType},
			{"form", "application/x-www-form-urlencoded", `a=1`, nil, http.StatusUnsupportedMediaType},
			{"gzip", "application/json", `{}`, http.Header{"Content-Encoding": {"gzip"}}, http.StatusUnsupportedMediaType},
			{"too large", "application/json", big, nil, http.StatusRequestEntityTooLarge},
		} {
			t.Run(tc.name+" POST "+path, func(t *testing.T) {
				check(t, http.MethodPost, concrete, tc.contentType, []byte(tc.body), tc.header, tc.status)
			})
		}
		t.Run("too large without Content-Length POST "+path, func(t *testing.T) {
			h := http.Header{"Authorization": {"Bearer " + adminToken}, "Content-Type": {"application/json"}}
			req, err := http.NewRequest(http.MethodPost, base+concrete, struct{ *strings.Reader }{strings.NewReader(big)}) // unknown length: chunked
			require.NoError(t, err)
			req.Header = h
			resp, err := client.Do(req)
			require.NoError(t, err)
			res := readAll(t, resp)
			require.Equal(t, http.StatusRequestEntityTooLarge, res.status, "body: %s", res.body)
			decodeProblem(t, res)
		})
	}
	for _, path := range []string{"/", "/v1", "/v1/", "/v1/score/", "/v1/nothing", "/v2/score", "/v1/admin/nothing", "/favicon.ico", "/%2e%2e/etc/passwd"} {
		t.Run("404 "+path, func(t *testing.T) {
			check(t, http.MethodGet, path, "", nil, nil, http.StatusNotFound)
		})
	}
}
