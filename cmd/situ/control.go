package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"

	"situ/api"
	"situ/control"
	"situ/feedback"
	"situ/internal/secrets"
	"situ/models"
	"situ/policy"
	"situ/scoring"
)

// initialConfig is version 0 of the data team's configuration: what the
// flags give (--policy, --uniform, --reward, --explorer, --epsilon,
// --gamma0), no overrides, pins or levers. Every process that reads
// nba.control must start from the same one (the same flags), or the
// records one writes conflict on the others.
func initialConfig(opts serveOptions, pol *policy.Policy) (control.Config, error) {
	cfg, err := control.Default()
	if err != nil {
		return control.Config{}, err
	}
	if opts.rewardFile != "" {
		if cfg.Reward, err = load(opts.rewardFile, models.DefaultReward, models.ParseReward); err != nil {
			return control.Config{}, fmt.Errorf("reward definition: %w", err)
		}
	}
	switch {
	case opts.uniform:
		// the policy as served, uniform mode on
		doc, err := yaml.Marshal(pol.Spec())
		if err != nil {
			return control.Config{}, fmt.Errorf("policy: %w", err)
		}
		cfg.Policy = string(doc)
	case opts.policyFile != "":
		doc, err := os.ReadFile(opts.policyFile)
		if err != nil {
			return control.Config{}, fmt.Errorf("policy: %w", err)
		}
		cfg.Policy = string(doc)
	}
	cfg.Exploration = control.Exploration{Explorer: opts.explorer, Gamma0: opts.gamma0}
	switch opts.explorer {
	case control.ExplorerEpsilonGreedy:
		cfg.Exploration.Epsilon = opts.epsilon.or(0.1)
	default:
		cfg.Exploration.Epsilon = opts.epsilon.or(scoring.DefaultExplorer.Epsilon)
	}
	return cfg, nil
}

// engineApplier serves each configuration version: its policy, explorer
// and levers, its weight overrides over the learned model (the effective
// model is built once per version and per learned model, never per
// request), its running experiments and their frozen models, and its
// version in every decision. The engine swaps them as one bundle, so an
// experiment created or stopped takes effect on a replica as soon as it
// reads the version.
func engineApplier(engine *scoring.Engine) feedback.ConfigApplier {
	return feedback.ConfigApplier{Name: "engine", Apply: func(version int64, a *control.Applied) error {
		return engine.Update(func(b scoring.Bundle) (scoring.Bundle, error) {
			b.Policy, b.Explorer, b.Levers, b.ConfigVersion = a.Policy, a.Explorer, a.Levers, version
			b.Experiments, b.Frozen = a.Experiments, a.Frozen
			return b.WithOverride(func(learned *models.Model) (*models.Model, error) {
				return control.EffectiveModel(learned, a)
			})
		})
	}}
}

// loadTokens reads --auth-file, or else the admin token kept in the data
// dir (generated at the first start). Where the data dir cannot hold one
// (a read-only root), no token is accepted: the admin API stays closed.
func loadTokens(opts serveOptions, log *zap.Logger) (api.Tokens, error) {
	if opts.authFile != "" {
		tokens, err := api.LoadTokens(opts.authFile)
		if err != nil {
			return api.Tokens{}, fmt.Errorf("%w: --auth-file: %w", errUsage, err)
		}
		return tokens, nil
	}
	admin, err := secrets.LoadOrCreateAdminToken(opts.dataDir)
	if err != nil {
		var perm *os.PathError
		if errors.As(err, &perm) {
			log.Named("serve").Warn("no admin token: the admin API accepts no one (pass --auth-file)", zap.Error(err))
			return api.NewTokens(nil)
		}
		return api.Tokens{}, err
	}
	log.Named("serve").Info("admin token (pass it as Authorization: Bearer; situ admin reads it)",
		zap.String("file", admin.Path), zap.Bool("generated", admin.Created))
	return api.NewTokens([]api.Token{{Name: secrets.AdminTokenFile, Role: api.RoleAdmin, SHA256: admin.SHA256}})
}

// newAuditLogger builds the audit logger: JSON lines, never sampled (every
// change, accepted or refused, is one entry), written to w.
func newAuditLogger(w io.Writer) *zap.Logger {
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(encCfg), zapcore.Lock(zapcore.AddSync(w)), zapcore.InfoLevel)
	return zap.New(core).Named("audit")
}
