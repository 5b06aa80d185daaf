package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"situ/api"
)

// TestSlowClientsCannotExhaustTheServer: over real TCP on loopback, many
// clients trickle their request headers one byte every 100 ms. Meanwhile
// an ordinary client still gets its score answers fast, and the server
// drops every trickling connection once ReadHeaderTimeout has passed since
// its first byte, however steadily bytes keep coming. A body trickled
// after complete headers gets a 408 JSON problem at ReadTimeout; an idle
// keep-alive connection is closed at IdleTimeout.
func TestSlowClientsCannotExhaustTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("several seconds of real time")
	}
	const (
		trickling         = 500
		readHeaderTimeout = time.Second
		readTimeout       = 2 * time.Second
		idleTimeout       = time.Second
	)
	s, err := api.New(api.Config{Decider: newEngine(t, nil), Registerer: prometheus.NewRegistry(),
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout})
	require.NoError(t, err)
	addr, cancel, served := serveLoopback(t, s.Serve)
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
	})

	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	scoreFor := func(d time.Duration) []time.Duration {
		var latencies []time.Duration
		for start := time.Now(); time.Since(start) < d; {
			t0 := time.Now()
			res := send(t, client, http.MethodPost, "http://"+addr+api.RouteScore, strings.NewReader(contractExample), http.Header{"Content-Type": {"application/json"}})
			latencies = append(latencies, time.Since(t0))
			require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		}
		slices.Sort(latencies)
		return latencies
	}
	base := scoreFor(readHeaderTimeout / 2)

	// the trickling clients: each writes a request line and headers that
	// never end, one byte every 100 ms, until the server closes it
	request := "POST /v1/score HTTP/1.1\r\nHost: situ\r\n" + strings.Repeat("X-Slow: 1\r\n", 100)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		heldFor []time.Duration // from the first byte to the server's close
	)
	for range trickling {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			closed := make(chan struct{})
			go func() { // the server's close shows as EOF or a reset
				_, _ = io.Copy(io.Discard, conn)
				close(closed)
			}()
			for i := 0; ; i++ {
				select {
				case <-closed:
					mu.Lock()
					heldFor = append(heldFor, time.Since(start))
					mu.Unlock()
					return
				case <-time.After(100 * time.Millisecond):
				}
				if time.Since(start) > 10*readHeaderTimeout {
					return // never closed: reported below
				}
				_, _ = conn.Write([]byte{request[i%len(request)]})
			}
		}()
	}

	// the ordinary client again, one request after the other, while they
	// trickle: every request answered, the median about as before (the
	// machine may be busy: the bound is loose, the figures are logged)
	latencies := scoreFor(readHeaderTimeout)
	median := latencies[len(latencies)/2]
	t.Logf("score latency alone: %d requests, median %s, max %s; while %d connections trickle headers: %d requests, median %s, p99 %s, max %s",
		len(base), base[len(base)/2], base[len(base)-1], trickling, len(latencies), median, latencies[len(latencies)*99/100], latencies[len(latencies)-1])
	require.Less(t, median, max(5*base[len(base)/2], 25*time.Millisecond), "an ordinary client waits behind trickling ones")

	wg.Wait()
	require.Len(t, heldFor, trickling, "every trickling connection is closed by the server")
	slices.Sort(heldFor)
	t.Logf("trickling connections held %s to %s", heldFor[0], heldFor[len(heldFor)-1])
	require.GreaterOrEqual(t, heldFor[0], readHeaderTimeout/2, "closed long before ReadHeaderTimeout")
	require.Less(t, heldFor[len(heldFor)-1], readHeaderTimeout+2*time.Second, "a trickling connection outlives ReadHeaderTimeout")

	t.Run("a trickled body gets 408 at ReadTimeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()
		_, err = fmt.Fprintf(conn, "POST /v1/score HTTP/1.1\r\nHost: situ\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(contractExample))
		require.NoError(t, err)
		done := make(chan response, 1)
		go func() {
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				done <- response{}
				return
			}
			done <- readAll(t, res)
		}()
		var res response
	trickle:
		for i := 0; i < len(contractExample); i++ {
			select {
			case res = <-done:
				break trickle
			case <-time.After(100 * time.Millisecond):
				_, _ = conn.Write([]byte{contractExample[i]})
			}
		}
		took := time.Since(start)
		require.Equal(t, http.StatusRequestTimeout, res.status, "body: %s", res.body)
		require.Equal(t, api.CodeRequestTimeout, decodeProblem(t, res).Error.Code)
		require.InDelta(t, readTimeout.Seconds(), took.Seconds(), 0.5, "answered after %s", took)
	})

	t.Run("an idle keep-alive connection is closed at IdleTimeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: situ\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(conn)
		res := readResponse(t, br)
		require.Equal(t, http.StatusOK, res.status)
		start := time.Now()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*idleTimeout)))
		_, err = br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "the server closes the connection")
		require.InDelta(t, idleTimeout.Seconds(), time.Since(start).Seconds(), 0.5)
	})
}
