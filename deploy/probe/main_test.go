package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"situ/internal/situtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProbeExitStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.WriteHeader(http.StatusOK)
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/draining":
			http.Error(w, `{"error":{"code":"not_ready"}}`, http.StatusServiceUnavailable)
		case "/slow":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	closedURL := "http://" + situtest.ReserveAddr(t) + "/readyz"

	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{name: "ready", args: []string{srv.URL + "/readyz"}, want: 0},
		{name: "any 2xx is healthy", args: []string{srv.URL + "/empty"}, want: 0},
		{name: "503 is unhealthy and says why", args: []string{srv.URL + "/draining"}, want: 1, wantStderr: "503"},
		{name: "404 is unhealthy", args: []string{srv.URL + "/nope"}, want: 1, wantStderr: "404"},
		{name: "no answer within the timeout", args: []string{"--timeout", "50ms", srv.URL + "/slow"}, want: 1, wantStderr: "deadline"},
		{name: "nothing listening", args: []string{closedURL}, want: 1, wantStderr: "refused"},
		{name: "not a URL", args: []string{"http://[::1"}, want: 1, wantStderr: "build request"},
		{name: "no URL", args: nil, want: 2, wantStderr: "Usage"},
		{name: "two URLs", args: []string{srv.URL, srv.URL}, want: 2, wantStderr: "Usage"},
		{name: "unknown flag", args: []string{"--retries", "3", srv.URL}, want: 2, wantStderr: "retries"},
		{name: "help", args: []string{"--help"}, want: 0, wantStderr: "Usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			got := run(context.Background(), tc.args, &stderr)
			require.Equal(t, tc.want, got, "stderr: %s", stderr.String())
			require.Contains(t, stderr.String(), tc.wantStderr)
			if tc.want == 0 && tc.name != "help" {
				require.Empty(t, stderr.String())
			}
		})
	}
}
