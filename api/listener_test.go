package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
)

// TestNetHTTPErrorsAreJSON sends raw bytes over TCP to a real server:
// the answers net/http writes itself, before any handler, are JSON
// problems; ordinary requests are untouched.
func TestNetHTTPErrorsAreJSON(t *testing.T) {
	s, err := api.New(api.Config{Decider: newEngine(t, nil), Registerer: prometheus.NewRegistry(), MaxHeaderBytes: 1024})
	require.NoError(t, err)
	addr, cancel, served := serveLoopback(t, s.Serve)
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
	})

	const healthz = "GET /healthz HTTP/1.1\r\nHost: situ\r\n\r\n"
	cases := []struct {
		name    string
		request string
		status  int
		code    string // "" for a non-error answer
		message string // a part of it
	}{
		{"oversized headers", "GET /healthz HTTP/1.1\r\nHost: situ\r\nX-Big: " + strings.Repeat("x", 8<<10) + "\r\n\r\n",
			431, api.CodeHeaderTooLarge, "larger than 1024 bytes"},
		{"garbage request line", "hello there\r\n\r\n", 400, api.CodeBadRequest, "not valid HTTP/1.1"},
		{"binary garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400, api.CodeBadRequest, "not valid HTTP/1.1"},
		{"missing Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, api.CodeBadRequest, "missing required Host header"},
		{"malformed header", "GET /healthz HTTP/1.1\r\nHost: situ\r\nno colon here\r\n\r\n", 400, api.CodeBadRequest, "not valid HTTP/1.1"},
		{"unsupported transfer encoding", "POST /v1/score HTTP/1.1\r\nHost: situ\r\nTransfer-Encoding: gzip\r\n\r\n",
			501, api.CodeUnsupportedTransferEncoding, "Transfer-Encoding"},
		{"unsupported HTTP version", "GET /healthz HTTP/3.0\r\nHost: situ\r\n\r\n", 505, api.CodeUnsupportedHTTPVersion, "HTTP/1.1"},
		{"a normal request", healthz, 200, "", ""},
		{"garbage after a normal request on the same connection", healthz + "hello there\r\n\r\n", 400, api.CodeBadRequest, "not valid HTTP/1.1"},
		{"a handler's own error", "GET /nothing HTTP/1.1\r\nHost: situ\r\n\r\n", 404, api.CodeNotFound, "no such route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			_, err = io.WriteString(conn, tc.request)
			require.NoError(t, err)
			br := bufio.NewReader(conn)
			res := readResponse(t, br)
			if strings.HasPrefix(tc.name, "garbage after") {
				require.Equal(t, 200, res.status, "first answer: %s", res.body)
				res = readResponse(t, br)
			}
			require.Equal(t, tc.status, res.status, "body: %s", res.body)
			if tc.code == "" {
				require.JSONEq(t, `{"status":"ok"}`, string(res.body))
				require.NotEmpty(t, res.header.Get("Date"))
				return
			}
			p := decodeProblem(t, res)
			require.Equal(t, tc.code, p.Error.Code)
			require.Contains(t, p.Error.Message, tc.message)
			require.Empty(t, p.Error.Field)
		})
	}
}

func readResponse(t *testing.T, br *bufio.Reader) response {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	return readAll(t, res)
}
