package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	json "github.com/go-json-experiment/json"

	"situ/control"
	"situ/features"
)

// Routes of the admin API (docs/admin.md).
const (
	RouteAdminConfig   = "/v1/admin/config"
	RouteAdminWeights  = "/v1/admin/weights"
	RouteAdminChanges  = "/v1/admin/changes"
	RouteAdminChange   = "/v1/admin/changes/:version"
	RouteAdminDiff     = "/v1/admin/diff"
	RouteAdminRollback = "/v1/admin/rollback"
)

// ConfigAnswer is the answer of GET /v1/admin/config.
type ConfigAnswer struct {
	Version int64          `json:"version"`
	Config  control.Config `json:"config"`
}

// ChangeAnswer is the answer of POST /v1/admin/changes and POST
// /v1/admin/rollback: the record's members (in a dry run, the record the
// change would make) and what differs between its before and after.
type ChangeAnswer struct {
	control.Record
	Diff   []control.Difference `json:"diff"`
	DryRun bool                 `json:"dry_run"`
}

// HistoryAnswer is the answer of GET /v1/admin/changes, newest first.
type HistoryAnswer struct {
	Changes []HistoryEntry `json:"changes"`
}

// HistoryEntry is one version in the history.
type HistoryEntry struct {
	Version int64          `json:"version"`
	Author  string         `json:"author"`
	Reason  string         `json:"reason"`
	Time    time.Time      `json:"time"`
	Kinds   []control.Kind `json:"kinds"`
	// RollbackOf is the version a rollback restored.
	RollbackOf *int64 `json:"rollback_of,omitzero"`
}

// DiffAnswer is the answer of GET /v1/admin/diff.
type DiffAnswer struct {
	From        int64                `json:"from"`
	To          int64                `json:"to"`
	Differences []control.Difference `json:"differences"`
}

// rollbackBody is the body of POST /v1/admin/rollback as it is decoded:
// to_version is required (0, the built-in configuration, is a version).
type rollbackBody struct {
	ToVersion   *int64 `json:"to_version"`
	Author      string `json:"author"`
	Reason      string `json:"reason"`
	BaseVersion *int64 `json:"base_version,omitzero"`
}

// registerAdmin adds the admin routes, each behind its role.
func (s *Server) registerAdmin() {
	t := s.cfg.Tokens
	analyst, admin := RequireRole(t, RoleAnalyst), RequireRole(t, RoleAdmin)
	e := s.engine
	e.GET(RouteAdminConfig, analyst, s.withControl(s.adminConfig))
	e.GET(RouteAdminWeights, analyst, s.withControl(s.adminWeights))
	e.POST(RouteAdminChanges, analyst, s.withControl(s.adminPostChange)) // a real change needs admin: see adminPostChange
	e.GET(RouteAdminChanges, analyst, s.withControl(s.adminHistory))
	e.GET(RouteAdminChange, analyst, s.withControl(s.adminRecord))
	e.GET(RouteAdminDiff, analyst, s.withControl(s.adminDiff))
	e.POST(RouteAdminRollback, admin, s.withControl(s.adminRollback))
	s.registerExperiments(analyst, admin)
}

// withControl answers 503 when no control plane is configured.
func (s *Server) withControl(h func(c *gin.Context, cp ControlPlane)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.cfg.Control == nil {
			s.writeError(c, &unavailableError{message: "the control plane is not configured"})
			return
		}
		h(c, s.cfg.Control)
	}
}

func (s *Server) adminConfig(c *gin.Context, cp ControlPlane) {
	v, cfg := cp.Current()
	s.writeAdmin(c, http.StatusOK, ConfigAnswer{Version: v, Config: cfg})
}

func (s *Server) adminWeights(c *gin.Context, cp ControlPlane) {
	only, err := treatmentQuery(c.QueryArray("treatment"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	table, err := cp.Weights(only)
	if err != nil {
		s.writeError(c, controlError(c.Request.Context(), err, "the weights cannot be read now; retry"))
		return
	}
	if table.Weights == nil {
		table.Weights = []control.WeightRow{}
	}
	s.writeAdmin(c, http.StatusOK, table)
}

// treatmentQuery parses ?treatment=T (repeated, or comma-separated); none
// is every treatment (0).
func treatmentQuery(values []string) (features.TreatmentSet, error) {
	var set features.TreatmentSet
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			t, ok := features.ParseTreatment(strings.TrimSpace(name))
			if !ok {
				return 0, fieldProblem(CodeInvalidField, "treatment", fmt.Sprintf("unknown treatment %q; allowed: %s", truncate(name), strings.Join(features.TreatmentNames(), ", ")))
			}
			set = set.With(t)
		}
	}
	return set, nil
}

// adminPostChange answers POST /v1/admin/changes. The route admits
// analysts; only a dry run is theirs, a real change needs an admin.
func (s *Server) adminPostChange(c *gin.Context, cp ControlPlane) {
	var req ChangeRequest
	if err := s.decodeAdminBody(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	p, _ := PrincipalFrom(c)
	if !req.DryRun && !p.Satisfies(RoleAdmin) {
		abortAuth(c, http.StatusForbidden, CodeForbidden, `Bearer realm="situ", error="insufficient_scope"`,
			"a change needs role admin; token "+strconv.Quote(p.Name)+" has role "+string(p.Role)+", which may only dry-run one (\"dry_run\": true)")
		return
	}
	if err := checkAuthorReason(req.Author, req.Reason); err != nil {
		s.writeError(c, err)
		return
	}
	req.Principal = p.Name
	res, err := cp.Submit(c.Request.Context(), req)
	if err != nil {
		s.writeError(c, controlError(c.Request.Context(), err, "the change could not be made durable now; retry"))
		return
	}
	status := http.StatusCreated
	if res.DryRun {
		status = http.StatusOK
	}
	s.writeAdmin(c, status, ChangeAnswer{Record: res.Record, Diff: nonNil(res.Diff), DryRun: res.DryRun})
}

func (s *Server) adminRollback(c *gin.Context, cp ControlPlane) {
	var body rollbackBody
	if err := s.decodeAdminBody(c, &body); err != nil {
		s.writeError(c, err)
		return
	}
	switch {
	case body.ToVersion == nil:
		s.writeError(c, &features.FieldError{Field: "to_version", Message: "is required: the version whose configuration to restore (0 is the built-in one)"})
		return
	case *body.ToVersion < 0:
		s.writeError(c, &features.FieldError{Field: "to_version", Message: fmt.Sprintf("must be 0 (the built-in configuration) or a later version, got %d", *body.ToVersion)})
		return
	}
	if err := checkAuthorReason(body.Author, body.Reason); err != nil {
		s.writeError(c, err)
		return
	}
	p, _ := PrincipalFrom(c)
	r, err := cp.Rollback(c.Request.Context(), RollbackRequest{
		ToVersion: *body.ToVersion, Author: body.Author, Reason: body.Reason, BaseVersion: body.BaseVersion, Principal: p.Name,
	})
	if err != nil {
		var unknown *control.UnknownVersionError
		if errors.As(err, &unknown) {
			s.writeProblem(c, problem{http.StatusNotFound, CodeNotFound, "to_version", unknown.Error()})
			return
		}
		s.writeError(c, controlError(c.Request.Context(), err, "the rollback could not be made durable now; retry"))
		return
	}
	s.writeAdmin(c, http.StatusCreated, ChangeAnswer{Record: r, Diff: nonNil(control.Diff(r.Before, r.After))})
}

func (s *Server) adminHistory(c *gin.Context, cp ControlPlane) {
	records := cp.Records()
	out := HistoryAnswer{Changes: make([]HistoryEntry, len(records))}
	for i, r := range records {
		out.Changes[i] = HistoryEntry{Version: r.Version, Author: r.Author, Reason: r.Reason, Time: r.Time, Kinds: r.Kinds, RollbackOf: r.RollbackOf}
		if out.Changes[i].Kinds == nil {
			out.Changes[i].Kinds = []control.Kind{}
		}
	}
	s.writeAdmin(c, http.StatusOK, out)
}

func (s *Server) adminRecord(c *gin.Context, cp ControlPlane) {
	v, err := versionParam("version", c.Param("version"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	r, err := cp.Record(v)
	if err != nil {
		s.writeError(c, controlError(c.Request.Context(), err, "the history cannot be read now; retry"))
		return
	}
	s.writeAdmin(c, http.StatusOK, r)
}

func (s *Server) adminDiff(c *gin.Context, cp ControlPlane) {
	from, err := versionParam("from", c.Query("from"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	to, err := versionParam("to", c.Query("to"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	diffs, err := cp.Diff(from, to)
	if err != nil {
		s.writeError(c, controlError(c.Request.Context(), err, "the history cannot be read now; retry"))
		return
	}
	s.writeAdmin(c, http.StatusOK, DiffAnswer{From: from, To: to, Differences: nonNil(diffs)})
}

// versionParam parses a configuration version given in the path or the
// query.
func versionParam(name, v string) (int64, error) {
	if v == "" {
		return 0, &features.FieldError{Field: name, Message: "is required: a configuration version (0 is the built-in one)"}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &features.FieldError{Field: name, Message: fmt.Sprintf("must be a configuration version, a whole number from 0, got %q", truncate(v))}
	}
	return n, nil
}

// checkAuthorReason refuses a write without an author or a reason, before
// the control plane sees it: a dry run is held to the same rules.
func checkAuthorReason(author, reason string) error {
	switch {
	case strings.TrimSpace(author) == "":
		return &features.FieldError{Field: "author", Message: "is required: who makes the change"}
	case len(author) > control.MaxAuthorLength:
		return &features.FieldError{Field: "author", Message: fmt.Sprintf("must be at most %d bytes", control.MaxAuthorLength)}
	case strings.TrimSpace(reason) == "":
		return &features.FieldError{Field: "reason", Message: "is required: why the change is made"}
	case len(reason) > control.MaxReasonLength:
		return &features.FieldError{Field: "reason", Message: fmt.Sprintf("must be at most %d bytes", control.MaxReasonLength)}
	}
	return nil
}

// controlError keeps the control plane's errors that problemFor maps (an
// invalid change, a stale base, an unknown version, the request's own
// end) and turns anything else into a 503 with message.
func controlError(ctx context.Context, err error, message string) error {
	var (
		fieldErr *features.FieldError
		reqErr   *requestError
		stale    *control.StaleError
		unknown  *control.UnknownVersionError
	)
	switch {
	case errors.As(err, &fieldErr), errors.As(err, &reqErr), errors.As(err, &stale), errors.As(err, &unknown):
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return &unavailableError{message: message, err: err}
}

// decodeAdminBody reads a JSON body and decodes it as strictly as a score
// request.
func (s *Server) decodeAdminBody(c *gin.Context, v any) error {
	bp := s.getBuffer()
	body, err := s.readBody(c, (*bp)[:0])
	defer s.putBuffer(bp, body)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// adminEncodeOptions write maps sorted by key: equal answers are equal
// bytes.
var adminEncodeOptions = json.Deterministic(true)

// writeAdmin answers with v's JSON and a newline.
func (s *Server) writeAdmin(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v, adminEncodeOptions)
	if err != nil {
		s.writeError(c, fmt.Errorf("encode admin answer: %w", err))
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, status, append(b, '\n'))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
