package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	json "github.com/go-json-experiment/json"

	"situ/control"
	"situ/experiments"
	"situ/features"
)

// Routes of the experiments' admin API (docs/admin.md, "Experiments").
const (
	RouteAdminExperiments       = "/v1/admin/experiments"
	RouteAdminExperiment        = "/v1/admin/experiments/:id"
	RouteAdminExperimentStop    = "/v1/admin/experiments/:id/stop"
	RouteAdminExperimentResults = "/v1/admin/experiments/:id/results"
)

// ExperimentResults are the results the results engine publishes, one
// per experiment.
type ExperimentResults interface {
	// Results returns the JSON of the experiments.Results last published
	// for experiment id, and whether there is any.
	Results(id string) (encoded []byte, ok bool)
}

// ExperimentRequest is the body of POST /v1/admin/experiments: the
// definition, with who starts the experiment and why.
type ExperimentRequest struct {
	experiments.Definition
	Author string `json:"author"`
	Reason string `json:"reason"`
	// BaseVersion, when given, is the version the experiment was planned
	// on: on any other it is refused (409).
	BaseVersion *int64 `json:"base_version,omitzero"`
}

// ExperimentStopRequest is the body of POST /v1/admin/experiments/{id}/stop.
type ExperimentStopRequest struct {
	Author      string `json:"author"`
	Reason      string `json:"reason"`
	BaseVersion *int64 `json:"base_version,omitzero"`
}

// ExperimentView is an experiment as the admin API shows it: its
// definition, its state and the versions that created and stopped it.
type ExperimentView struct {
	experiments.Definition
	State string            `json:"state"`
	Stop  *experiments.Stop `json:"stop,omitzero"`
	// CreatedVersion and CreatedAt are the version (and its time) of the
	// change that created the experiment.
	CreatedVersion int64     `json:"created_version"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
	// StoppedVersion and StoppedAt, once stopped, the change that stopped
	// it.
	StoppedVersion *int64     `json:"stopped_version,omitzero"`
	StoppedAt      *time.Time `json:"stopped_at,omitzero"`
}

// ExperimentAnswer is the answer of POST /v1/admin/experiments, of a stop
// and of GET /v1/admin/experiments/{id}: the configuration version and
// the experiment in it.
type ExperimentAnswer struct {
	Version    int64          `json:"version"`
	Experiment ExperimentView `json:"experiment"`
}

// ExperimentsAnswer is the answer of GET /v1/admin/experiments: every
// experiment, running or stopped, in the order they were created.
type ExperimentsAnswer struct {
	Version     int64            `json:"version"`
	Experiments []ExperimentView `json:"experiments"`
}

// registerExperiments adds the experiments' routes behind their roles.
func (s *Server) registerExperiments(analyst, admin gin.HandlerFunc) {
	e := s.engine
	e.POST(RouteAdminExperiments, admin, s.withControl(s.adminCreateExperiment))
	e.GET(RouteAdminExperiments, analyst, s.withControl(s.adminExperiments))
	e.GET(RouteAdminExperiment, analyst, s.withControl(s.adminExperiment))
	e.POST(RouteAdminExperimentStop, admin, s.withControl(s.adminStopExperiment))
	e.GET(RouteAdminExperimentResults, analyst, s.withControl(s.adminExperimentResults))
}

// Field paths the control plane reports for an experiment change, and
// what they are in the bodies of the experiments' routes.
const (
	createPath = "change.experiments.create"
	stopPath   = "change.experiments.stop"
)

func (s *Server) adminCreateExperiment(c *gin.Context, cp ControlPlane) {
	var body ExperimentRequest
	if err := s.decodeAdminBody(c, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if err := checkAuthorReason(body.Author, body.Reason); err != nil {
		s.writeError(c, err)
		return
	}
	d := body.Definition
	_, cfg := cp.Current()
	if i := experimentIndex(cfg, d.ID); i >= 0 {
		s.writeProblem(c, problem{http.StatusConflict, CodeConflict, "id", fmt.Sprintf(
			"experiment %q exists already (%s): ids are not reused, so that results stay attributable; choose another id", d.ID, cfg.Experiments[i].State)})
		return
	}
	p, _ := PrincipalFrom(c)
	res, err := cp.Submit(c.Request.Context(), ChangeRequest{
		Author: body.Author, Reason: body.Reason, BaseVersion: body.BaseVersion, Principal: p.Name,
		Change: control.Change{Experiments: &control.ExperimentsChange{Create: &d}},
	})
	if err != nil {
		s.writeError(c, controlError(c.Request.Context(), relabelField(err, createPath), "the experiment could not be made durable now; retry"))
		return
	}
	s.writeExperiment(c, cp, http.StatusCreated, res.Record, d.ID)
}

func (s *Server) adminStopExperiment(c *gin.Context, cp ControlPlane) {
	id := c.Param("id")
	var body ExperimentStopRequest
	if err := s.decodeAdminBody(c, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if err := checkAuthorReason(body.Author, body.Reason); err != nil {
		s.writeError(c, err)
		return
	}
	records := cp.Records()
	_, cfg := currentOf(cp, records)
	i := experimentIndex(cfg, id)
	if i < 0 {
		s.writeProblem(c, unknownExperiment(id))
		return
	}
	if e := cfg.Experiments[i]; !e.Running() {
		msg := fmt.Sprintf("experiment %q is already stopped", id)
		if v := viewOf(e, records); v.StoppedVersion != nil {
			msg += fmt.Sprintf(" (version %d, by %s)", *v.StoppedVersion, e.Stop.By)
		}
		s.writeProblem(c, problem{http.StatusConflict, CodeConflict, "id", msg + ": stopping is final; to test again, create an experiment with a new id"})
		return
	}
	p, _ := PrincipalFrom(c)
	res, err := cp.Submit(c.Request.Context(), ChangeRequest{
		Author: body.Author, Reason: body.Reason, BaseVersion: body.BaseVersion, Principal: p.Name,
		Change: control.Change{Experiments: &control.ExperimentsChange{Stop: &control.ExperimentStop{ID: id, By: body.Author, Reason: body.Reason}}},
	})
	if err != nil {
		s.writeError(c, controlError(c.Request.Context(), relabelField(err, stopPath), "the stop could not be made durable now; retry"))
		return
	}
	s.writeExperiment(c, cp, http.StatusOK, res.Record, id)
}

// writeExperiment answers a create or a stop: the version r made and the
// experiment id in it.
func (s *Server) writeExperiment(c *gin.Context, cp ControlPlane, status int, r control.Record, id string) {
	records := slices.DeleteFunc(cp.Records(), func(x control.Record) bool { return x.Version > r.Version })
	i := experimentIndex(r.After, id)
	if i < 0 { // the control plane accepted a change that does not hold the experiment
		s.writeError(c, fmt.Errorf("experiment %q is not in version %d", id, r.Version))
		return
	}
	s.writeAdmin(c, status, ExperimentAnswer{Version: r.Version, Experiment: viewOf(r.After.Experiments[i], records)})
}

func (s *Server) adminExperiments(c *gin.Context, cp ControlPlane) {
	records := cp.Records()
	v, cfg := currentOf(cp, records)
	out := ExperimentsAnswer{Version: v, Experiments: make([]ExperimentView, len(cfg.Experiments))}
	for i, e := range cfg.Experiments {
		out.Experiments[i] = viewOf(e, records)
	}
	s.writeAdmin(c, http.StatusOK, out)
}

func (s *Server) adminExperiment(c *gin.Context, cp ControlPlane) {
	id := c.Param("id")
	records := cp.Records()
	v, cfg := currentOf(cp, records)
	i := experimentIndex(cfg, id)
	if i < 0 {
		s.writeProblem(c, unknownExperiment(id))
		return
	}
	s.writeAdmin(c, http.StatusOK, ExperimentAnswer{Version: v, Experiment: viewOf(cfg.Experiments[i], records)})
}

// adminExperimentResults answers the results the results engine
// published, with the state the configuration gives now; before any,
// results with no units in every arm.
func (s *Server) adminExperimentResults(c *gin.Context, cp ControlPlane) {
	id := c.Param("id")
	_, cfg := cp.Current()
	i := experimentIndex(cfg, id)
	if i < 0 {
		s.writeProblem(c, unknownExperiment(id))
		return
	}
	e := cfg.Experiments[i]
	res := ZeroResults(e)
	if s.cfg.Results != nil {
		if b, ok := s.cfg.Results.Results(id); ok {
			var r experiments.Results
			if err := json.Unmarshal(b, &r); err != nil {
				s.writeError(c, &unavailableError{message: "the experiment's results cannot be read now; retry", err: fmt.Errorf("decode the results of experiment %q: %w", id, err)})
				return
			}
			r.State = e.State
			res = r
		}
	}
	s.writeAdmin(c, http.StatusOK, res)
}

// ZeroResults are an experiment's results before any decision of it was
// joined with its outcome: every arm with no units, exposures or joined
// decisions, every metric with no units and no lift, no segments, no
// guardrail statuses, and an SRM p-value of 1.
func ZeroResults(e experiments.Experiment) experiments.Results {
	d := e.Definition
	r := experiments.Results{
		ID: d.ID, State: e.State, PrimaryMetric: d.PrimaryMetric,
		SRM:        experiments.SRMCheck{PValue: 1},
		Arms:       make([]experiments.ArmResult, len(d.Arms)),
		Segments:   map[string]map[string]experiments.SegmentResult{},
		Guardrails: []experiments.GuardrailStatus{},
	}
	for i, a := range d.Arms {
		m := make(map[string]experiments.MetricResult, len(experiments.Metrics))
		for _, name := range experiments.Metrics {
			m[name] = experiments.MetricResult{}
		}
		r.Arms[i] = experiments.ArmResult{Name: a.Name, Strategy: a.Strategy, Metrics: m}
	}
	return r
}

// currentOf returns the version and configuration the newest of records
// made (newest first, as ControlPlane.Records returns them), or, with no
// record, the plane's current one (version 0): the configuration and the
// records then agree.
func currentOf(cp ControlPlane, records []control.Record) (int64, control.Config) {
	if len(records) > 0 {
		return records[0].Version, records[0].After
	}
	return cp.Current()
}

func experimentIndex(cfg control.Config, id string) int {
	return slices.IndexFunc(cfg.Experiments, func(e experiments.Experiment) bool { return e.Definition.ID == id })
}

// viewOf shows e with the versions of records (newest first) that created
// and stopped it.
func viewOf(e experiments.Experiment, records []control.Record) ExperimentView {
	v := ExperimentView{Definition: e.Definition, State: e.State, Stop: e.Stop}
	id := e.Definition.ID
	for i := len(records) - 1; i >= 0; i-- {
		r := &records[i]
		if !slices.Contains(r.Kinds, control.KindExperiments) {
			continue
		}
		bi, ai := experimentIndex(r.Before, id), experimentIndex(r.After, id)
		switch {
		case ai < 0:
		case bi < 0:
			v.CreatedVersion, v.CreatedAt = r.Version, r.Time
		case r.Before.Experiments[bi].Running() && !r.After.Experiments[ai].Running():
			ver, at := r.Version, r.Time
			v.StoppedVersion, v.StoppedAt = &ver, &at
		}
	}
	return v
}

func unknownExperiment(id string) problem {
	return problem{http.StatusNotFound, CodeNotFound, "id", fmt.Sprintf("no experiment %q: GET %s lists them", truncate(id), RouteAdminExperiments)}
}

// relabelField turns a field error of the control plane's change path
// prefix (change.experiments.create.arms[1].weight) into the path in the
// route's body (arms[1].weight).
func relabelField(err error, prefix string) error {
	var fe *features.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch {
	case fe.Field == prefix:
		return &features.FieldError{Message: fe.Message}
	case strings.HasPrefix(fe.Field, prefix+"."):
		return &features.FieldError{Field: strings.TrimPrefix(fe.Field, prefix+"."), Message: fe.Message}
	}
	return err
}
