package feedback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// DefaultBrokerAddr is where the embedded broker listens when no address is
// configured: the port standard Kafka tools try first.
const DefaultBrokerAddr = "127.0.0.1:9092"

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Addr is the host:port the broker listens on and advertises to clients
	// in its metadata. Default DefaultBrokerAddr. Port 0 picks a free port
	// (tests). The host must be an IP address or "localhost"; an unspecified
	// address (0.0.0.0, ::) is rejected because clients would be told to
	// connect to it.
	Addr string
	// DataDir is the directory the broker keeps its topics, records and
	// offsets in, so they survive a restart. Default "" keeps everything in
	// memory: state is lost on Close.
	DataDir string
	// SyncWrites fsyncs every produced batch. Default false: records reach
	// the operating system on every produce, so a killed process loses
	// nothing, but a power loss can lose the last batches (real Kafka's
	// default behaviour too).
	SyncWrites bool
	// CompactionInterval is how often the broker compacts its compacted
	// topics (nba.models, nba.control, nba.learner.checkpoints: only the latest record of every key
	// and the last batch of a partition remain) and applies the retention
	// of the others. Default DefaultCompactionInterval; kfake's own default,
	// an hour, would let a starting replica read every snapshot of the
	// last hour (two a second while learning).
	CompactionInterval time.Duration
	// Retention bounds what the broker keeps (SplitBrokerBudget). Default:
	// no size limit, time retention only.
	Retention BrokerRetention
	// Listener, when set, is where the broker accepts connections, and Addr
	// is ignored: a listener the process inherited, so that a restarted
	// broker keeps its port. Close closes it.
	Listener net.Listener
	// Registerer receives the broker's retention metrics. Default: none.
	Registerer prometheus.Registerer
	// Logger receives the broker's warnings and errors. Default: no logging.
	Logger *zap.Logger
}

// DefaultCompactionInterval is the embedded broker's compaction period.
// kfake compacts a topic by reading every batch it retains into memory at
// once: with the learner checkpointing every few seconds, 30 s let 6–9 MB
// of checkpoints pile up between two compactions, each read whole, which
// made the broker's heap jump by as much every 30 s; every 10 s the
// compacted topics hold a third of that.
const DefaultCompactionInterval = 10 * time.Second

// EmbeddedBroker is a single-broker, Kafka-compatible cluster running in
// this process (github.com/twmb/franz-go/pkg/kfake). It is for development,
// tests and demos; production runs a real Kafka (or Redpanda, MSK,
// Confluent …) cluster.
type EmbeddedBroker struct {
	cluster   *kfake.Cluster
	addr      string
	retention *retention
	closeOnce sync.Once
}

// StartEmbeddedBroker starts the broker and returns once it accepts
// connections. Close stops it; ctx only bounds the start.
func StartEmbeddedBroker(ctx context.Context, cfg BrokerConfig) (*EmbeddedBroker, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultBrokerAddr
	}
	listenAddr, err := brokerListenAddr(cfg.Addr)
	if cfg.Listener != nil {
		listenAddr, err = cfg.Listener.Addr().String(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", cfg.Addr, err)
	}
	if cfg.CompactionInterval == 0 {
		cfg.CompactionInterval = DefaultCompactionInterval
	}
	if cfg.CompactionInterval < time.Millisecond {
		return nil, fmt.Errorf("embedded broker: compaction interval must be at least 1ms, got %s", cfg.CompactionInterval)
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("embedded broker data dir: %w", err)
		}
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("situ-embedded"),
		// The period of kfake's cleaner: compaction of compacted topics and
		// retention of the others.
		kfake.BrokerConfigs(map[string]string{
			"log.cleaner.backoff.ms": strconv.FormatInt(cfg.CompactionInterval.Milliseconds(), 10),
		}),
		// kfake listens on 127.0.0.1 and advertises the listener's address;
		// listening on the configured host makes the advertised address the
		// one clients were given.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			if cfg.Listener != nil {
				return cfg.Listener, nil
			}
			var lc net.ListenConfig
			return lc.Listen(ctx, network, listenAddr)
		}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	if cfg.SyncWrites {
		opts = append(opts, kfake.SyncWrites())
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(kfakeLogger{cfg.Logger.Named("broker")}))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded broker on %s: %w", listenAddr, err)
	}
	addrs := cluster.ListenAddrs()
	if len(addrs) != 1 {
		cluster.Close()
		return nil, fmt.Errorf("start embedded broker: %d listeners, want 1", len(addrs))
	}
	b := &EmbeddedBroker{cluster: cluster, addr: addrs[0]}

	// The listener accepts as soon as it exists; a dial proves it before
	// callers start producing.
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("start embedded broker: dial %s: %w", b.addr, err)
	}
	_ = conn.Close()
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if err := b.startRetention(cfg.Retention, cfg.Registerer, log); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Addr returns the host:port clients connect to (the advertised address).
func (b *EmbeddedBroker) Addr() string { return b.addr }

// Brokers returns the bootstrap list for clients: just Addr.
func (b *EmbeddedBroker) Brokers() []string { return []string{b.addr} }

// Close stops the broker, writing its state to DataDir when one is set.
// It is safe to call more than once.
func (b *EmbeddedBroker) Close() {
	b.closeOnce.Do(func() {
		if b.retention != nil {
			b.retention.stop()
		}
		b.cluster.Close()
	})
}

// ListenBroker listens on addr as StartEmbeddedBroker would (the same
// checks of the address), for a broker to be started on the listener
// later, possibly in another process.
func ListenBroker(ctx context.Context, addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultBrokerAddr
	}
	listenAddr, err := brokerListenAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", listenAddr)
}

// brokerListenAddr checks addr and returns the address to listen on.
func brokerListenAddr(addr string) (string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", fmt.Errorf("port %q is not a number between 0 and 65535", portStr)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", errors.New("host must be an IP address or localhost")
	}
	if ip.IsUnspecified() {
		return "", errors.New("the broker advertises its listen address to clients: use a reachable IP such as 127.0.0.1, not an unspecified address")
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port)), nil
}

// kfakeLogger forwards the broker's warnings and errors to zap.
type kfakeLogger struct{ log *zap.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		l.log.Error("embedded broker", zap.String("detail", fmt.Sprintf(msg, args...)))
	case kfake.LogLevelWarn:
		l.log.Warn("embedded broker", zap.String("detail", fmt.Sprintf(msg, args...)))
	}
}
