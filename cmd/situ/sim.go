package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"situ/feedback"
	"situ/models"
	"situ/simulation"
)

// simOptions are the flags of situ sim.
type simOptions struct {
	url          string
	kafkaBrokers string
	outcomes     string
	contacts     int
	window       int
	concurrency  int
	seed         uint64
	rate         float64
	plot         string
	jsonFile     string
	customers    int
	rewardFile   string
	truth        bool
	world        uint64
	driftAt      int
	driftWorld   uint64
}

func (o *simOptions) register(fs *flagSet) {
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080", "base `URL` of the situ service to play against")
	fs.StringVar(&o.kafkaBrokers, "kafka-brokers", feedback.DefaultBrokerAddr, "comma-separated Kafka bootstrap `HOST:PORT` list the outcomes are published to")
	fs.StringVar(&o.outcomes, "outcomes-topic", feedback.DefaultOutcomesTopic, "`TOPIC` the outcomes are published to")
	fs.IntVar(&o.contacts, "contacts", 30_000, "number of simulated contacts")
	fs.IntVar(&o.window, "window", 0, "contacts per report window")
	fs.describeDefault("window", "contacts/15, rounded up")
	fs.IntVar(&o.concurrency, "concurrency", 8, "contacts in flight")
	fs.Uint64Var(&o.seed, "population-seed", 1, "seed of the simulated population, its contacts and their outcomes")
	fs.Float64Var(&o.rate, "rate", 0, "at most this many contacts per second (0: as fast as situ answers)")
	fs.StringVar(&o.jsonFile, "json", "", "`FILE` for the report as JSON, which situ-plot draws (empty: none)")
	fs.StringVar(&o.plot, "plot", "", "no longer drawn here: situ-plot draws the --json report (refused when set)")
	fs.IntVar(&o.customers, "customers", 10_000, "number of distinct simulated customers (c-000000 …) the contacts come from")
	fs.StringVar(&o.rewardFile, "reward", "", "reward definition YAML `FILE` the rewards are scored with (give the one situ serve --reward reads)")
	fs.describeDefault("reward", "the embedded definition (models/default_reward.yaml)")
	fs.Uint64Var(&o.world, "world", 0, "draw a random situational ground truth from `SEED` (0: the default world, docs/simulator.md)")
	fs.IntVar(&o.driftAt, "drift-at", 0, "switch the ground truth to --drift-world from contact `N` on (0: no drift; choose a multiple of --window)")
	fs.Uint64Var(&o.driftWorld, "drift-world", 0, "`SEED` of the world after --drift-at")
	fs.describeDefault("drift-world", "--world + 1000")
	fs.BoolVar(&o.truth, "truth-strategies", false, "print the ground truth's expected reward and resolution of the fixed strategies (value_tier, uniform, efficiency_first, delight_first) and the oracle on the first --contacts contacts, without a situ, and exit; --json FILE writes them as JSON")
}

const simSynopsis = `Play a synthetic contact centre against a running situ: score each contact
over HTTP, draw its outcome from a ground-truth response model, publish the
outcome to Kafka for the learner, and report per window the reward of the
served decisions against the oracle and fixed strategies, and for decisions
in experiments the ground truth of each arm (docs/simulator.md). With
--truth-strategies, say what the ground truth expects of the fixed
strategies without playing against a situ.`

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var opts simOptions
	fs := newFlagSet("sim", simSynopsis, stderr)
	opts.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if opts.plot != "" {
		return &hintError{fmt.Errorf("%w: --plot: situ sim draws no plot", errUsage),
			fmt.Sprintf("Write the report with --json FILE and draw it with situ-plot: go run ./cmd/situ-plot --out %s FILE (make demo does both).", opts.plot)}
	}
	reward, err := load(opts.rewardFile, models.DefaultReward, models.ParseReward)
	if err != nil {
		return fmt.Errorf("%w: --reward: %w", errUsage, err)
	}
	if opts.truth {
		return runTruthStrategies(opts, &reward, stdout)
	}
	if opts.window == 0 {
		opts.window = max(1, (opts.contacts+14)/15)
	}
	publisher, err := feedback.NewOutcomePublisher(feedback.OutcomePublisherConfig{
		Brokers: splitList(opts.kafkaBrokers), Topic: opts.outcomes, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	defer publisher.Close()

	fmt.Fprintf(stderr, "situ sim: %d contacts against %s, outcomes to %s on %s, population seed %d\n",
		opts.contacts, opts.url, opts.outcomes, opts.kafkaBrokers, opts.seed)
	started := time.Now()
	var world, driftWorld *simulation.World
	if opts.world != 0 {
		world = simulation.RandomWorld(opts.world)
	}
	if opts.driftAt > 0 {
		if opts.driftWorld == 0 {
			opts.driftWorld = opts.world + 1000
		}
		driftWorld = simulation.RandomWorld(opts.driftWorld)
	}
	report, runErr := simulation.Run(ctx, simulation.Config{
		World: world, DriftAt: opts.driftAt, DriftWorld: driftWorld,
		ScoreURL: strings.TrimSuffix(opts.url, "/"), Publisher: publisher, Contacts: opts.contacts, Window: opts.window,
		Concurrency: opts.concurrency, Seed: opts.seed, Rate: opts.rate, Customers: opts.customers, Reward: &reward,
		OnWindow: func(w simulation.WindowReport) {
			fmt.Fprintf(stderr, "  window %2d: served %.3f  oracle %.3f  model v%d  (%s)\n",
				w.Index+1, w.Expected, w.Oracle, w.ModelVersion, time.Since(started).Round(time.Millisecond))
		},
	})
	if report == nil { // the configuration was refused
		return fmt.Errorf("%w: %w", errUsage, runErr)
	}
	if errors.Is(runErr, simulation.ErrOutcomesNotPublished) {
		// the learner saw none of it: no report, the reason once
		return &hintError{runErr, fmt.Sprintf("situ sim publishes the outcomes to %s on %s (--kafka-brokers, SITU_KAFKA_BROKERS): point it at the broker situ serve uses (its --broker-addr, or its --kafka-brokers).",
			opts.outcomes, opts.kafkaBrokers)}
	}
	if runErr == nil && report.Summary.Served == 0 {
		return &hintError{fmt.Errorf("no contact served: the last failure: %s", report.Summary.LastFailure),
			fmt.Sprintf("situ sim plays against %s (--url, SITU_URL): point it at situ serve's --addr.", opts.url)}
	}
	if err := report.WriteText(stdout); err != nil {
		return err
	}
	if opts.jsonFile != "" {
		if err := writeReportFile(opts.jsonFile, report); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	return nil
}

// runTruthStrategies prints the ground truth of the fixed strategies and
// writes it to --json when given.
func runTruthStrategies(opts simOptions, reward *models.RewardDefinition, stdout io.Writer) error {
	rep, err := simulation.TruthStrategies(simulation.TruthConfig{
		Seed: opts.seed, Customers: opts.customers, Contacts: opts.contacts, Reward: reward,
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if opts.jsonFile == "" {
		return nil
	}
	return writeFile(opts.jsonFile, rep.WriteJSON)
}

// writeReportFile writes the report's JSON to path.
func writeReportFile(path string, report *simulation.Report) error {
	return writeFile(path, report.WriteJSON)
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("report: %w", cerr)
		}
	}()
	return write(f)
}
