// Package api owns situ's HTTP interface: the gin router behind situ's own
// http.Server, the strict decoding and validation of request bodies, the
// mapping of errors to JSON problem responses, request metrics and request
// logs.
//
// It declares the small interfaces it calls (Decider, OutcomeSink,
// ControlPlane, ExperimentResults) and is wired by cmd/situ; the decision path it drives
// (scoring, policy, models, features) knows nothing about HTTP.
//
// Endpoints:
//
//	POST /v1/score      decide how to treat a customer (docs/api.md)
//	POST /v1/outcomes   report what happened after a decision (202)
//	GET  /healthz       liveness: 200 while the process runs
//	GET  /readyz        readiness: 200 when Config.Ready says so, else 503
//	GET  /metrics       Prometheus metrics from Config.Gatherer
//
// and the data team's admin API under /v1/admin/ (config, weights,
// changes, history, diff, rollback, experiments and their results;
// docs/admin.md) over the ControlPlane and ExperimentResults it declares,
// each route behind RequireRole; the score routes are behind
// ScoreAccess.
//
// NewHealthServer builds the same server for a process that does not score
// (situ's learner and broker roles): /healthz, /readyz and /metrics only,
// their answers naming the role, with the same limits, JSON problems,
// request metrics and logs, and drain.
package api
