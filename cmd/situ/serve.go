package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"

	"situ/api"
	"situ/features"
	"situ/feedback"
	"situ/internal/custhash"
	"situ/internal/datadir"
	"situ/internal/secrets"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// serveOptions are the flags of situ serve.
type serveOptions struct {
	addr         string
	schemaFile   string
	modelFile    string
	policyFile   string
	uniform      bool
	explorer     string
	gamma0       float64
	epsilon      optionalFloat
	seed         uint64
	logLevel     zapcore.Level
	drainTimeout time.Duration

	role                 string
	kafkaBrokers         string
	brokerAddr           string
	dataDir              string
	learnerStateDir      string
	joinSnapshotInterval time.Duration
	partitions           int
	decisionQueue        int
	rewardFile           string
	rewardWindow         time.Duration
	lateWindow           time.Duration
	defaultReward        optionalFloat
	maxPending           int
	maxLate              int
	learningRate         float64
	maxImportanceWeight  float64
	minStepRate          float64
	forgetting           float64
	averageUpdates       float64
	snapshotEvery        int
	snapshotInterval     time.Duration

	authFile        string
	customerKeyFile string
	allowOpenScore  bool

	brokerMaxBytes byteSize
	singleProcess  bool
	learnerNice    int
	gcPercent      int
	// forward are the flags set on the command line or in the environment,
	// as --name=value, for child processes (role all).
	forward []string
	// childOutput receives the child processes' merged logs. Default
	// os.Stderr.
	childOutput io.Writer
}

func (o *serveOptions) register(fs *flagSet) {
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address `HOST:PORT` of the HTTP API")
	fs.StringVar(&o.schemaFile, "schema", "", "feature schema YAML `FILE`")
	fs.describeDefault("schema", "the embedded schema (features/default_schema.yaml)")
	fs.StringVar(&o.modelFile, "model", "", "model YAML `FILE`")
	fs.describeDefault("model", "the embedded default model (models/default_model.yaml)")
	fs.StringVar(&o.policyFile, "policy", "", "service policy YAML `FILE`")
	fs.describeDefault("policy", "the embedded policy (policy/default_policy.yaml)")
	fs.BoolVar(&o.uniform, "uniform", false, "switch on uniform mode over the loaded policy: customer value and tier take no part in decisions")
	fs.StringVar(&o.explorer, "explorer", "squarecb", "exploration `NAME`: squarecb or epsilon-greedy")
	fs.Float64Var(&o.gamma0, "gamma0", scoring.DefaultExplorer.Gamma0, "SquareCB's initial γ (greediness; grows with √(1+outcomes learned))")
	fs.Var(&o.epsilon, "epsilon", "exploration floor ε: SquareCB mixes ε uniformly; epsilon-greedy explores with probability ε")
	fs.describeDefault("epsilon", "0.01 for squarecb, 0.1 for epsilon-greedy")
	fs.Uint64Var(&o.seed, "exploration-seed", 0, "seed of the exploration draws (each draw hashes the seed with the decision id)")
	o.logLevel = zapcore.InfoLevel
	fs.Var(&o.logLevel, "log-level", "log `LEVEL`: debug, info, warn or error")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", api.DefaultDrainTimeout, "on SIGTERM, how long running requests may finish")

	fs.StringVar(&o.role, "role", roleAll, "what this process runs: `all` (API and learner), api (stateless scoring replica), learner (the one active learner) or broker (only the embedded broker, for local multi-process setups)")
	fs.StringVar(&o.kafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap `HOST:PORT` list")
	fs.describeDefault("kafka-brokers", "none: --role all starts an embedded Kafka-compatible broker on --broker-addr")
	fs.StringVar(&o.brokerAddr, "broker-addr", feedback.DefaultBrokerAddr, "listen `HOST:PORT` of the embedded broker (kcat -b works against it)")
	fs.StringVar(&o.dataDir, "data-dir", ".situ", "`DIR` where the embedded broker keeps its topics across restarts")
	fs.IntVar(&o.partitions, "partitions", 3, "partition `COUNT` of nba.decisions and nba.outcomes when situ creates them")
	fs.IntVar(&o.decisionQueue, "decision-queue", 10_000, "decision events waiting for Kafka; beyond it they are dropped and counted, never waited for")
	fs.StringVar(&o.rewardFile, "reward", "", "reward definition YAML `FILE`")
	fs.describeDefault("reward", "the embedded definition (models/default_reward.yaml)")
	fs.DurationVar(&o.rewardWindow, "reward-window", 24*time.Hour, "how long a decision waits for its outcome's fields but the late ones (and an outcome for its decision)")
	fs.DurationVar(&o.lateWindow, "late-window", 7*24*time.Hour, "how long a decision waits for its late outcome fields, recontact_7d and churned (at least --reward-window; docs/reward.md)")
	fs.Var(&o.defaultReward, "default-reward", "reward of a decision whose window passed without an outcome")
	fs.describeDefault("default-reward", "none: such decisions are skipped")
	fs.IntVar(&o.maxPending, "max-pending", 20_000_000, "decisions the learner keeps waiting for their outcome parts within --reward-window (about 44 bytes each); beyond it the oldest are dropped and counted")
	fs.IntVar(&o.maxLate, "max-late", 125_000_000, "decisions (offsets of nba.decisions) the learner keeps in its late tier after --reward-window, waiting for their late fields until --late-window (about 2.25 bytes each: 7 days at 200 decisions/s fit); beyond it the oldest are dropped and counted")
	fs.Float64Var(&o.learningRate, "learning-rate", 0.05, "AdaGrad learning rate η of the online update")
	fs.Float64Var(&o.maxImportanceWeight, "max-importance-weight", 1, "clip of an update's importance weight 1/propensity (1: not importance weighted; docs/model.md)")
	fs.Float64Var(&o.minStepRate, "min-step-rate", 0, "floor of each weight's AdaGrad step size η/√G, so that learning never stops (docs/model.md)")
	fs.Float64Var(&o.forgetting, "forgetting", 1, "factor β in (0, 1] of AdaGrad's squared-gradient sums before each update (1: no forgetting; docs/model.md)")
	fs.Float64Var(&o.averageUpdates, "average-updates", models.DefaultAverageUpdates, "horizon in updates of the moving average of the learned weights that is served (1: serve the last weights; docs/model.md)")
	fs.IntVar(&o.snapshotEvery, "snapshot-every", 1000, "publish a model snapshot after this many updates")
	fs.StringVar(&o.authFile, "auth-file", "", "YAML `FILE` of the accepted tokens: name, role (admin, analyst, score) and the sha256 of each token (docs/admin.md)")
	fs.describeDefault("auth-file", "none: an admin token generated once in <data-dir>/admin.token")
	fs.StringVar(&o.customerKeyFile, "customer-key-file", "", "`FILE` whose bytes (at least 32) key the hashes of customer ids in decision events; replicas share it")
	fs.describeDefault("customer-key-file", "generated once in <data-dir>/customer.key")
	fs.BoolVar(&o.allowOpenScore, "allow-open-score", false, "serve /v1/score and /v1/outcomes without a score token on a non-loopback --addr")
	fs.DurationVar(&o.snapshotInterval, "snapshot-interval", 500*time.Millisecond, "publish a model snapshot at least this often while learning")
	fs.StringVar(&o.learnerStateDir, "learner-state-dir", "", "`DIR` where the learner keeps a local snapshot of its join, so that a restart need not read every pending decision and the outcomes of the window again (docs/operations.md)")
	fs.describeDefault("learner-state-dir", "<data-dir>/learner with the embedded broker (--role all without --kafka-brokers); none otherwise")
	fs.DurationVar(&o.joinSnapshotInterval, "join-snapshot-interval", 5*time.Minute, "write the learner's join snapshot at least this often (and when it stops); a restart after a crash reads again what came after the last one")
	o.brokerMaxBytes = feedback.DefaultBrokerMaxBytes
	fs.Var(&o.brokerMaxBytes, "broker-max-bytes", "disk `SIZE` the embedded broker keeps its topics within (e.g. 512MiB, 2GiB; 0: no size limit): the oldest decisions, outcomes and dead letters go first")
	fs.describeDefault("broker-max-bytes", "512MiB")
	fs.IntVar(&o.learnerNice, "learner-nice", 10, "--role all: nice `VALUE` of the learner's child process, so that it gives way to the API when they compete for the CPU (it catches up afterwards); 0 keeps this process's priority")
	fs.BoolVar(&o.singleProcess, "single-process", false, "--role all: run the embedded broker and the learner inside this process, not as supervised child processes (their heaps and collections then share the API's)")
	fs.IntVar(&o.gcPercent, "gc-percent", defaultGCPercent, "the Go collector's GOGC `PERCENT` in a process whose heap is the API's alone (--role api, and --role all without --single-process); the GOGC environment variable, when set, wins (docs/operations.md)")
}

// defaultGCPercent is --gc-percent's default. An API process's live heap
// is a few MB (4 MB under load), so at Go's default of 100 it collects
// every few milliseconds under load, 8 % of its CPU; 400 lets the heap
// grow to about 5× the live heap (some 20 MB) between collections, for a
// quarter of that work.
const defaultGCPercent = 400

// applyGCPercent sets the collector's GOGC to --gc-percent in a process
// that serves the API and holds no learner or broker (whose heaps are
// hundreds of MB), unless the GOGC environment variable sets it. It
// reports whether it did.
func applyGCPercent(opts serveOptions, getenv func(string) string) bool {
	apiOnly := opts.role == roleAPI || opts.role == roleAll && !opts.singleProcess
	if !apiOnly || getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(opts.gcPercent)
	return true
}

// childFlags are the flags a supervising situ serve sets itself for its
// child processes, rather than passing its own on.
var childFlags = map[string]bool{"role": true, "addr": true, "kafka-brokers": true, "single-process": true, "learner-nice": true}

// The roles of situ serve.
const (
	roleAll     = "all"
	roleAPI     = "api"
	roleLearner = "learner"
	roleBroker  = "broker"
)

// optionalFloat is a float flag that knows whether it was set.
type optionalFloat struct {
	v   float64
	set bool
}

func (f *optionalFloat) String() string {
	if f == nil || !f.set {
		return ""
	}
	return fmt.Sprint(f.v)
}

func (f *optionalFloat) Set(s string) error {
	if _, err := fmt.Sscan(s, &f.v); err != nil {
		return errors.New("not a number")
	}
	f.set = true
	return nil
}

func (f *optionalFloat) or(def float64) float64 {
	if f.set {
		return f.v
	}
	return def
}

const serveSynopsis = `Run the decision service: POST /v1/score answers how to treat a customer in
a situation (docs/api.md). It stops gracefully on SIGINT or SIGTERM.`

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	var opts serveOptions
	fs := newFlagSet("serve", serveSynopsis, stderr)
	opts.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		if !childFlags[f.Name] {
			opts.forward = append(opts.forward, "--"+f.Name+"="+f.Value.String())
		}
	})
	opts.childOutput = stderr
	log := newLogger(opts.logLevel, stderr)
	defer func() { _ = log.Sync() }()
	if opts.gcPercent < -1 {
		return fmt.Errorf("%w: --gc-percent must be -1 (off) or more, got %d", errUsage, opts.gcPercent)
	}
	if applyGCPercent(opts, os.Getenv) {
		log.Info("garbage collector set for the API process", zap.Int("gogc", opts.gcPercent))
	}

	svc, err := buildServe(ctx, opts, log, newAuditLogger(stderr), prometheus.NewRegistry())
	if err != nil {
		return explainAddrInUse(err, opts)
	}
	defer svc.close()
	return runComponents(ctx, log, svc.components)
}

// service is everything situ serve runs, built from its options.
type service struct {
	components []component
	// readiness checks; /readyz is ready when all pass.
	readiness []func(context.Context) error
	// closers release, in reverse order, what outlives the components.
	closers []func()
}

// close releases what the components used, last built first.
func (s *service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// component is one long-running part of the service. run blocks until ctx
// ends (then it stops cleanly and returns nil) or the component fails.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// metricsRegistry is where a process registers its metrics and what
// /metrics serves: a *prometheus.Registry.
type metricsRegistry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// buildServe builds every component from the options, registering their
// metrics with reg: the data-dir lock
// and the embedded broker (roles all and broker without --kafka-brokers),
// the wait for Kafka and its topics (what needs Kafka starts once they are
// in place; until then /readyz says what is awaited), the decision
// engine with its decision publisher, outcome publisher, model follower
// and results board (roles all and api), the HTTP API, and the learner and
// the experiment results engine (roles all and learner). The returned service's close releases what outlives the
// components (the broker, the outcome producer).
func buildServe(ctx context.Context, opts serveOptions, log, audit *zap.Logger, reg metricsRegistry) (svc *service, err error) {
	if opts.role != roleAll && opts.role != roleAPI && opts.role != roleLearner && opts.role != roleBroker {
		return nil, fmt.Errorf("%w: --role must be all, api, learner or broker, got %q", errUsage, opts.role)
	}
	if opts.role == roleBroker && opts.kafkaBrokers != "" {
		return nil, fmt.Errorf("%w: --role broker starts the embedded broker: it takes no --kafka-brokers", errUsage)
	}
	engine, err := buildEngine(opts)
	if err != nil {
		return nil, err
	}
	built := &service{}
	defer func() {
		if err != nil {
			built.close() // release the broker and producers started so far
		}
	}()
	svc = built

	if err := registerAll(reg,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	); err != nil {
		return nil, err
	}

	if opts.partitions < 1 || opts.decisionQueue < 1 || opts.maxPending < 1 || opts.maxLate < 1 {
		return nil, fmt.Errorf("%w: --partitions, --decision-queue, --max-pending and --max-late must be at least 1", errUsage)
	}
	brokers := splitList(opts.kafkaBrokers)
	topics := feedback.TopicsConfig{DecisionPartitions: opts.partitions, OutcomePartitions: opts.partitions}.WithDefaults()
	if err := topics.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	// Role all runs the learner, and the embedded broker, in child
	// processes of their own unless --single-process: the API's latency
	// then owes nothing to their heaps and collections.
	supervised := opts.role == roleAll && !opts.singleProcess
	var children []childSpec
	var lock *datadir.Lock
	if len(brokers) == 0 {
		if opts.role != roleAll && opts.role != roleBroker {
			return nil, fmt.Errorf("%w: --role %s needs --kafka-brokers: only --role all and --role broker start an embedded broker", errUsage, opts.role)
		}
		retention, err := feedback.SplitBrokerBudget(int64(opts.brokerMaxBytes), topics)
		if err != nil {
			return nil, fmt.Errorf("%w: --broker-max-bytes: %w", errUsage, err)
		}
		retention.RewardWindow = max(opts.rewardWindow, opts.lateWindow)
		// The embedded broker keeps its topics in the data dir: one process
		// at a time, or two brokers write the same partitions. A broker
		// child runs under its parent's lock.
		lockFile, err := inheritedFile(envLockFD)
		if err != nil {
			return nil, err
		}
		if lockFile != nil {
			lock, err = datadir.Inherit(opts.dataDir, lockFile)
		} else {
			lock, err = datadir.Acquire(opts.dataDir, datadir.Holder{Role: opts.role, HTTPAddr: opts.addr, BrokerAddr: opts.brokerAddr})
		}
		if err != nil {
			if errors.Is(err, datadir.ErrInUse) {
				return nil, fmt.Errorf("%w; stop it or pass --data-dir", err)
			}
			return nil, err
		}
		svc.closers = append(svc.closers, func() { _ = lock.Release() })
		if supervised {
			brokerLn, err := feedback.ListenBroker(ctx, opts.brokerAddr)
			if err != nil {
				return nil, fmt.Errorf("embedded broker: %w", err)
			}
			svc.closers = append(svc.closers, func() { _ = brokerLn.Close() })
			brokerFile, err := brokerLn.(*net.TCPListener).File()
			if err != nil {
				return nil, fmt.Errorf("embedded broker: %w", err)
			}
			svc.closers = append(svc.closers, func() { _ = brokerFile.Close() })
			brokers = []string{brokerLn.Addr().String()}
			children = append(children, childSpec{name: roleBroker, files: []*os.File{lock.File(), brokerFile},
				env:  []string{envLockFD + "=4", envBrokerFD + "=5"}, // after the HTTP listener's 3
				args: append(append([]string{"serve"}, opts.forward...), "--role", roleBroker)})
			log.Named("serve").Info("embedded Kafka-compatible broker started in a child process (for development; production uses a Kafka cluster)",
				zap.String("addr", brokers[0]), zap.String("data_dir", opts.dataDir))
		} else {
			brokerLn, err := inheritedListener(envBrokerFD)
			if err != nil {
				return nil, err
			}
			broker, err := feedback.StartEmbeddedBroker(ctx, feedback.BrokerConfig{
				Addr: opts.brokerAddr, Listener: brokerLn, DataDir: filepath.Join(opts.dataDir, "kafka"),
				Retention: retention, Registerer: reg, Logger: log.Named("broker"),
			})
			if err != nil {
				return nil, fmt.Errorf("embedded broker: %w", err)
			}
			svc.closers = append(svc.closers, func() { broker.Close() })
			svc.readiness = append(svc.readiness, dataDirSpace(filepath.Join(opts.dataDir, "kafka"), minFreeDataDirBytes, log.Named("broker")))
			brokers = broker.Brokers()
			log.Named("serve").Info("embedded Kafka-compatible broker started (for development; production uses a Kafka cluster)",
				zap.String("addr", broker.Addr()), zap.String("data_dir", opts.dataDir))
		}
	}
	if supervised {
		// The learner catches up on what it missed; the API cannot.
		args := append(append([]string{"serve"}, opts.forward...), "--role", roleLearner, "--kafka-brokers", strings.Join(brokers, ","))
		if opts.learnerStateDir == "" && opts.kafkaBrokers == "" {
			args = append(args, "--learner-state-dir", filepath.Join(opts.dataDir, "learner"))
		}
		children = append(children, childSpec{name: roleLearner, nice: opts.learnerNice, args: args})
	}
	// Kafka may not be there yet (a cluster starting beside this process):
	// serve HTTP at once, not ready, and start what needs Kafka once the
	// topics are in place.
	kafkaReady := newKafkaWait(brokers, topics, log)
	svc.components = append(svc.components, component{"kafka", kafkaReady.run})
	svc.readiness = append(svc.readiness, kafkaReady.check)

	// Every role but the broker follows the data team's configuration on
	// nba.control: replicas apply it to the engine, the learner its pins
	// and reward.
	var controlLog *feedback.ControlLog
	if opts.role != roleBroker {
		initial, err := initialConfig(opts, engine.Policy())
		if err != nil {
			return nil, err
		}
		var appliers []feedback.ConfigApplier
		if opts.role == roleAll || opts.role == roleAPI {
			appliers = append(appliers, engineApplier(engine))
		}
		controlLog, err = feedback.NewControlLog(feedback.ControlLogConfig{
			Brokers: brokers, Topic: topics.Control, Schema: engine.Model().Schema(), Initial: &initial,
			Appliers: appliers, Registerer: reg, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		svc.components = append(svc.components, component{"control", kafkaReady.after(controlLog.Run)})
		svc.readiness = append(svc.readiness, func(context.Context) error {
			select {
			case <-controlLog.CaughtUp():
				return nil
			default:
				return errors.New("reading the configuration from " + topics.Control)
			}
		})
	}

	// One control plane per process: the admin API's, and the results
	// engine's for the stops of breached guardrails.
	var sharedPlane *feedback.ControlPlane
	controlPlane := func() (*feedback.ControlPlane, error) {
		if sharedPlane != nil {
			return sharedPlane, nil
		}
		var err error
		sharedPlane, err = feedback.NewControlPlane(feedback.ControlPlaneConfig{
			Log: controlLog, Model: engine.Learned, AuditLogger: audit, Registerer: reg, Logger: log,
		})
		return sharedPlane, err
	}

	if opts.role == roleLearner || (opts.role == roleAll && !supervised) {
		learner, err := buildLearner(opts, brokers, topics, engine.Model(), controlLog, reg, log)
		if err != nil {
			return nil, err
		}
		svc.components = append(svc.components, component{"learner", kafkaReady.after(learner.Run)})
		results, err := buildResults(opts, brokers, topics, controlLog, controlPlane, reg, log)
		if err != nil {
			return nil, err
		}
		svc.components = append(svc.components, component{"results", kafkaReady.after(results.Run)})
	}

	gatherer := prometheus.Gatherer(reg)
	if len(children) > 0 {
		sup, err := startChildren(ctx, opts, log, children)
		if err != nil {
			return nil, err
		}
		// Components stop first (the decision publisher flushes to the
		// broker), then the children, then the listeners they share.
		if err := registerAll(reg, sup.collectors()...); err != nil {
			return nil, err
		}
		svc.closers = append(svc.closers, sup.stop)
		svc.components = append(svc.components, component{"supervisor", sup.run})
		svc.readiness = append(svc.readiness, sup.check)
		gatherers := prometheus.Gatherers{reg}
		for _, c := range sup.children {
			gatherers = append(gatherers, newChildMetrics(c.spec.name, c.spec.http))
		}
		gatherer = gatherers
	}

	var serve func(ctx context.Context, ln net.Listener) error
	if opts.role == roleLearner || opts.role == roleBroker {
		health, err := api.NewHealthServer(opts.role, api.Config{
			Ready: svc.ready, Logger: log, Registerer: reg, Gatherer: gatherer, DrainTimeout: opts.drainTimeout,
		})
		if err != nil {
			return nil, err
		}
		serve = health.Serve
	} else {
		decisions, err := feedback.NewDecisionPublisher(feedback.DecisionPublisherConfig{
			Brokers: brokers, Topic: topics.Decisions, QueueSize: opts.decisionQueue, Registerer: reg, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		svc.components = append(svc.components, component{"decisions", kafkaReady.after(decisions.Run)})
		// outcome ids are remembered for the reward window: a retry after
		// it could not be applied anyway
		dedup, err := feedback.NewDedupCache(feedback.DedupConfig{TTL: opts.rewardWindow})
		if err != nil {
			return nil, fmt.Errorf("%w: --reward-window: %w", errUsage, err)
		}
		outcomes, err := feedback.NewOutcomePublisher(feedback.OutcomePublisherConfig{Brokers: brokers, Topic: topics.Outcomes, Dedup: dedup, Registerer: reg, Logger: log})
		if err != nil {
			return nil, err
		}
		svc.closers = append(svc.closers, func() { _ = outcomes.Close() })
		follower, err := feedback.NewModelFollower(feedback.ModelFollowerConfig{
			Brokers: brokers, Topic: topics.Models, Name: engine.Model().Name(), Schema: engine.Model().Schema(),
			Target: engine, Registerer: reg, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		svc.components = append(svc.components, component{"models", kafkaReady.after(follower.Run)})
		svc.readiness = append(svc.readiness, func(context.Context) error {
			select {
			case <-follower.CaughtUp():
				return nil
			default:
				return errors.New("reading the latest model from " + topics.Models)
			}
		})
		tokens, err := loadTokens(opts, log)
		if err != nil {
			return nil, err
		}
		if err := api.CheckScoreExposure(opts.addr, tokens, opts.allowOpenScore); err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		// Decision events carry the context with the customer id hashed
		// under --customer-key-file, or a key created in the data dir at
		// the first start. Where neither can be had (a read-only root and
		// no file), they carry no context rather than the id.
		var ids *custhash.Hasher
		if key, err := secrets.LoadOrCreateCustomerKey(opts.dataDir, opts.customerKeyFile); err != nil {
			if opts.customerKeyFile != "" {
				return nil, fmt.Errorf("%w: --customer-key-file: %w", errUsage, err)
			}
			log.Named("serve").Warn("no customer-id key: decision events carry no context (pass --customer-key-file)", zap.Error(err))
		} else if ids, err = custhash.New(key.Key); err != nil {
			return nil, fmt.Errorf("customer key %s: %w", key.Path, err)
		}
		plane, err := controlPlane()
		if err != nil {
			return nil, err
		}
		// Every replica serves the experiments' results the learner
		// publishes (GET /v1/admin/experiments/{id}/results): resultsBoard
		// is the admin API's ExperimentResults.
		resultsBoard, err := feedback.NewResultsBoard(feedback.ResultsBoardConfig{Brokers: brokers, Topic: topics.Results, Registerer: reg, Logger: log})
		if err != nil {
			return nil, err
		}
		svc.components = append(svc.components, component{"results-board", kafkaReady.after(resultsBoard.Run)})
		httpAPI, err := api.New(api.Config{
			Decider:       feedback.NewRecordingDecider(engine, decisions, ids),
			Outcomes:      kafkaOutcomes{wait: kafkaReady, sink: outcomes},
			OutcomeWindow: max(opts.rewardWindow, opts.lateWindow),
			Tokens:        tokens,
			Control:       plane,
			Results:       resultsBoard,
			Ready:         svc.ready,
			Logger:        log,
			Registerer:    reg,
			Gatherer:      gatherer,
			DrainTimeout:  opts.drainTimeout,
		})
		if err != nil {
			return nil, err
		}
		serve = httpAPI.Serve
	}

	ln, err := inheritedListener(envHTTPFD)
	if err != nil {
		return nil, err
	}
	if ln == nil {
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", opts.addr); err != nil {
			return nil, fmt.Errorf("listen on %s: %w", opts.addr, err)
		}
	}
	svc.closers = append(svc.closers, func() { _ = ln.Close() }) // when the http component never ran
	if lock != nil {
		if err := lock.Record(datadir.Holder{Role: opts.role, HTTPAddr: ln.Addr().String(), BrokerAddr: brokers[0]}); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	svc.components = append(svc.components, component{"http", func(ctx context.Context) error {
		return serve(ctx, ln)
	}})

	model, pol := engine.Model(), engine.Policy()
	log.Named("serve").Info("situ serving",
		zap.String("role", opts.role),
		zap.String("addr", ln.Addr().String()),
		zap.Strings("kafka_brokers", brokers),
		zap.String("model", model.Name()), zap.Int64("model_version", model.Version()),
		zap.Int("schema_version", model.Schema().Version()),
		zap.Int64("policy_version", pol.Version()), zap.Bool("uniform", pol.Uniform()),
		zap.String("explorer", engine.Explorer().Name()))
	return svc, nil
}

// buildLearner builds the learning loop from the options.
func buildLearner(opts serveOptions, brokers []string, topics feedback.TopicsConfig, base *models.Model, control *feedback.ControlLog, reg prometheus.Registerer, log *zap.Logger) (*feedback.LearningLoop, error) {
	reward, err := load(opts.rewardFile, models.DefaultReward, models.ParseReward)
	if err != nil {
		return nil, fmt.Errorf("reward definition: %w", err)
	}
	join := models.JoinConfig{Window: opts.rewardWindow, LateWindow: opts.lateWindow, MaxPending: opts.maxPending, MaxLate: opts.maxLate}
	if opts.defaultReward.set {
		v := opts.defaultReward.v
		join.DefaultReward = &v
	}
	stateDir := opts.learnerStateDir
	if stateDir == "" && opts.role == roleAll && opts.kafkaBrokers == "" {
		stateDir = filepath.Join(opts.dataDir, "learner") // beside the embedded broker's topics
	}
	return feedback.NewLearningLoop(feedback.LearningLoopConfig{
		Brokers: brokers, Topics: topics, Base: base, Reward: reward, StateDir: stateDir, JoinSnapshotInterval: opts.joinSnapshotInterval,
		Learning: models.LearnerConfig{LearningRate: opts.learningRate, MaxImportanceWeight: opts.maxImportanceWeight, MinStepRate: opts.minStepRate, Forgetting: opts.forgetting, AverageUpdates: opts.averageUpdates}, Join: join,
		SnapshotEvery: opts.snapshotEvery, SnapshotInterval: opts.snapshotInterval,
		Control: control, Registerer: reg, Logger: log,
	})
}

// resultsMaxPending bounds the experiment decisions the results engine
// keeps waiting for their outcome parts, until their late window closes:
// about 145 bytes of Go heap each (experiments.PartsJoin; the learner's
// join keeps far less, but it reads decisions again), so 145 MB when full.
const resultsMaxPending = 1_000_000

// buildResults builds the results engine: experiment results from the
// streams, published to the results topic; a breached guardrail of an
// experiment with on_breach "stop" stops it through the control plane.
func buildResults(opts serveOptions, brokers []string, topics feedback.TopicsConfig, controlLog *feedback.ControlLog,
	controlPlane func() (*feedback.ControlPlane, error), reg prometheus.Registerer, log *zap.Logger) (*feedback.ResultsLoop, error) {
	plane, err := controlPlane()
	if err != nil {
		return nil, err
	}
	return feedback.NewResultsLoop(feedback.ResultsLoopConfig{
		Brokers: brokers, Topics: topics, Control: controlLog,
		Join: models.JoinConfig{Window: opts.rewardWindow, LateWindow: opts.lateWindow, MaxPending: min(opts.maxPending, resultsMaxPending)},
		Stop: feedback.GuardrailStop(plane), Registerer: reg, Logger: log,
	})
}

// ready reports whether every readiness check passes.
func (s *service) ready(ctx context.Context) error {
	for _, check := range s.readiness {
		if err := check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// runComponents runs every component under one errgroup: the first to fail
// stops the others; the context's end stops them all.
func runComponents(ctx context.Context, log *zap.Logger, comps []component) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		clog := log.With(zap.String("component", c.name))
		g.Go(func() error {
			if err := c.run(ctx); err != nil {
				clog.Error("component failed", zap.Error(err))
				return fmt.Errorf("%s: %w", c.name, err)
			}
			clog.Info("component stopped")
			return nil
		})
	}
	return g.Wait()
}

// buildEngine loads the schema, model and policy (files or the embedded
// defaults) and builds the decision engine. The model is the prior: it
// serves as version 0 whatever version its file names, so that the
// learner's first model (version 1) replaces it.
func buildEngine(opts serveOptions) (*scoring.Engine, error) {
	schema, err := load(opts.schemaFile, features.DefaultSchema, features.ParseSchema)
	if err != nil {
		return nil, fmt.Errorf("feature schema: %w", err)
	}
	model, err := load(opts.modelFile,
		func() (*models.Model, error) { return models.DefaultModel(schema) },
		func(doc []byte) (*models.Model, error) {
			spec, err := models.ParseSpec(doc)
			if err != nil {
				return nil, err
			}
			return models.Bind(spec, schema)
		})
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	prior := models.NewBuilder(model).Build(0)
	pol, err := load(opts.policyFile, policy.Default, policy.Parse)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if opts.uniform && !pol.Uniform() {
		spec := pol.Spec()
		spec.UniformMode = true
		if pol, err = policy.Compile(spec); err != nil {
			return nil, fmt.Errorf("policy in uniform mode: %w", err)
		}
	}
	var explorer scoring.Explorer
	switch opts.explorer {
	case "squarecb":
		explorer = scoring.SquareCB{Gamma0: opts.gamma0, Epsilon: opts.epsilon.or(scoring.DefaultExplorer.Epsilon)}
	case "epsilon-greedy":
		explorer = scoring.EpsilonGreedy{Epsilon: opts.epsilon.or(0.1)}
	default:
		return nil, fmt.Errorf("%w: --explorer must be squarecb or epsilon-greedy, got %q", errUsage, opts.explorer)
	}
	return scoring.NewEngine(scoring.Config{Model: prior, Policy: pol, Explorer: explorer, Seed: opts.seed})
}

// load reads and parses file, or builds the embedded default when file is "".
func load[T any](file string, embedded func() (T, error), parse func([]byte) (T, error)) (T, error) {
	if file == "" {
		return embedded()
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := parse(doc)
	if err != nil {
		return v, fmt.Errorf("%s: %w", file, err)
	}
	return v, nil
}

// newLogger builds the service logger: zap's production settings (JSON,
// sampled: per message and second the first 100 entries, then every
// 100th) with ISO 8601 times, written to w.
func newLogger(level zapcore.Level, w io.Writer) *zap.Logger {
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	sink := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), sink, level)
	core = zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel), zap.ErrorOutput(sink))
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// startChildren opens each child's HTTP listener (kept across its
// restarts) and builds the supervisor of the children.
func startChildren(ctx context.Context, opts serveOptions, log *zap.Logger, specs []childSpec) (*supervisor, error) {
	out := opts.childOutput
	if out == nil {
		out = os.Stderr
	}
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	for i := range specs {
		ln, f, err := loopbackListener(ctx)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listener of child %s: %w", specs[i].name, err)
		}
		specs[i].http = ln.Addr().String()
		_ = ln.Close() // f keeps the socket
		files = append(files, f)
		specs[i].files = append([]*os.File{f}, specs[i].files...)
		specs[i].env = append(specs[i].env, envHTTPFD+"=3")
		specs[i].args = append(specs[i].args, "--addr", specs[i].http)
	}
	sup := newSupervisor(log, out, opts.drainTimeout+10*time.Second, specs...)
	sup.closeFiles = closeAll
	return sup, nil
}
