package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"situ/internal/brokertest"
)

// catalog is a registry that remembers the name of every metric registered
// with it, whether or not the metric has a series yet (a vector shows in
// /metrics only once a label value was used).
type catalog struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

func newCatalog() *catalog {
	return &catalog{Registry: prometheus.NewRegistry(), names: map[string]bool{}}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (c *catalog) Register(col prometheus.Collector) error {
	if err := c.Registry.Register(col); err != nil {
		return err
	}
	descs := make(chan *prometheus.Desc, 16)
	go func() { col.Describe(descs); close(descs) }()
	c.mu.Lock()
	defer c.mu.Unlock()
	for d := range descs {
		if m := fqName.FindStringSubmatch(d.String()); m != nil && strings.HasPrefix(m[1], "situ_") {
			c.names[m[1]] = true
		}
	}
	return nil
}

func (c *catalog) MustRegister(cs ...prometheus.Collector) {
	for _, col := range cs {
		if err := c.Register(col); err != nil {
			panic(err)
		}
	}
}

// TestDocumentedMetricsAreExported holds docs/ and README.md to the metrics
// the processes export: every situ_ metric a process of any role registers
// is documented, and every situ_ metric the docs name is registered by a
// process of some role.
func TestDocumentedMetricsAreExported(t *testing.T) {
	broker := brokertest.Start(t, 0)
	exported := map[string]bool{}
	for _, role := range []string{roleAll, roleAPI, roleLearner, roleBroker} {
		t.Run(role, func(t *testing.T) {
			var opts serveOptions
			fs := newFlagSet("serve", serveSynopsis, io.Discard)
			opts.register(fs)
			args := []string{"--role", role, "--addr", "127.0.0.1:0", "--broker-addr", "127.0.0.1:0", "--data-dir", t.TempDir()}
			if role == roleAPI || role == roleLearner {
				args = append(args, "--kafka-brokers", broker.Addr())
			}
			require.NoError(t, fs.parse(args))
			reg := newCatalog()
			svc, err := buildServe(context.Background(), opts, zap.NewNop(), zap.NewNop(), reg)
			require.NoError(t, err)
			svc.close()
			for n := range reg.names {
				exported[n] = true
			}
		})
	}

	documented := documentedMetrics(t)
	var undocumented, unexported []string
	for n := range exported {
		if !documented[n] {
			undocumented = append(undocumented, n)
		}
	}
	for n := range documented {
		if !exported[n] {
			unexported = append(unexported, n)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unexported)
	require.Empty(t, undocumented, "metrics exported but documented nowhere in docs/ or README.md")
	require.Empty(t, unexported, "metrics the docs name that no process exports")
}

var metricName = regexp.MustCompile(`\bsitu_[a-z0-9_]+`)

// documentedMetrics collects the situ_ metric names docs/*.md and README.md
// mention; a histogram's _bucket, _sum and _count series count as the
// histogram.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	files = append(files, filepath.Join(root, "README.md"))
	names := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, n := range metricName.FindAllString(string(b), -1) {
			if strings.HasSuffix(n, "_") { // a family, as in situ_kafka_*
				continue
			}
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				n = strings.TrimSuffix(n, suffix)
			}
			names[n] = true
		}
	}
	return names
}
