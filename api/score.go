package api

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"situ/features"
	"situ/models"
	"situ/policy"
	"situ/scoring"

	"situ/internal/jsonw"
)

// score answers POST /v1/score: decode strictly, decide, answer.
func (s *Server) score(c *gin.Context) {
	bp := s.getBuffer()
	body, err := s.readBody(c, (*bp)[:0])
	if err != nil {
		s.putBuffer(bp, body)
		s.writeError(c, err)
		return
	}
	var req scoreRequest
	err = decodeScoreRequest(body, &req)
	var d scoring.Decision
	if err == nil {
		var set features.TreatmentSet
		if set, err = features.ParseTreatmentSet(req.Treatments); err == nil {
			d, err = s.cfg.Decider.Decide(c.Request.Context(), scoring.Request{Context: req.Context, Treatments: set})
		}
	}
	if err != nil {
		s.putBuffer(bp, body)
		s.writeError(c, err)
		return
	}
	s.metrics.observeDecision(&d)
	if d.Rules.Failed != 0 {
		s.ruleErrors.observe(&d)
	}
	out := appendDecision(body[:0], &d)
	writeJSON(c, http.StatusOK, out)
	s.putBuffer(bp, out)
}

// postOutcome answers POST /v1/outcomes: decode strictly, validate, hand
// to the sink, 202.
func (s *Server) postOutcome(c *gin.Context) {
	if s.cfg.Outcomes == nil {
		s.writeError(c, &unavailableError{message: "outcome ingestion is not configured"})
		return
	}
	bp := s.getBuffer()
	defer func() { s.putBuffer(bp, (*bp)[:0]) }()
	body, err := s.readBody(c, (*bp)[:0])
	*bp = body
	if err != nil {
		s.writeError(c, err)
		return
	}
	var o models.Outcome
	if err := decodeOutcome(body, &o); err != nil {
		s.writeError(c, err)
		return
	}
	if s.cfg.OutcomeWindow > 0 && o.DecisionID != "" {
		now := time.Now
		if s.cfg.Now != nil {
			now = s.cfg.Now
		}
		if err := models.CheckDecisionID(o.DecisionID, now(), s.cfg.OutcomeWindow); err != nil {
			s.writeError(c, err)
			return
		}
	}
	// the sink validates the outcome, once (feedback.OutcomePublisher does
	// before it writes), and answers a *features.FieldError for a bad one
	if err := s.cfg.Outcomes.PublishOutcome(c.Request.Context(), o); err != nil {
		var invalid *features.FieldError
		if errors.As(err, &invalid) {
			err = invalid
		} else if ctxErr := c.Request.Context().Err(); ctxErr != nil {
			err = ctxErr
		} else {
			err = &unavailableError{message: "the outcome could not be queued; retry", err: err}
		}
		s.writeError(c, err)
		return
	}
	b := append((*bp)[:0], `{"accepted":true,"outcome_id":`...)
	b = jsonw.String(b, o.OutcomeID)
	b = append(b, "}\n"...)
	*bp = b
	writeJSON(c, http.StatusAccepted, b)
}

// readBody checks the media type and reads the whole body into buf, at
// most Config.MaxBodyBytes of it.
func (s *Server) readBody(c *gin.Context, buf []byte) ([]byte, error) {
	if err := checkContentType(c.Request.Header["Content-Type"]); err != nil {
		return buf, err
	}
	if err := checkContentEncoding(c.Request.Header["Content-Encoding"]); err != nil {
		c.Writer.Header().Set("Accept-Encoding", "identity") // RFC 7694
		return buf, err
	}
	limit := s.cfg.MaxBodyBytes
	if c.Request.ContentLength > limit {
		return buf, tooLarge(limit)
	}
	body := c.Request.Body
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, tooLarge(limit)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return buf, tooLarge(limit)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) { // the server's ReadTimeout (net/http cancels the context too)
				return buf, requestProblem(http.StatusRequestTimeout, CodeRequestTimeout, "the request body did not arrive in time: send it at once, after the headers")
			}
			if ctxErr := c.Request.Context().Err(); ctxErr != nil {
				return buf, ctxErr
			}
			return buf, requestProblem(http.StatusBadRequest, CodeInvalidJSON, "could not read the request body: "+err.Error())
		}
	}
}

func tooLarge(limit int64) error {
	return requestProblem(http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("the body is larger than %d bytes", limit))
}

// checkContentEncoding accepts no Content-Encoding or identity: a
// compressed body would otherwise reach the decoder as binary ("not valid
// UTF-8").
func checkContentEncoding(values []string) error {
	for _, v := range values {
		for coding := range strings.SplitSeq(v, ",") {
			if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
				return requestProblem(http.StatusUnsupportedMediaType, CodeUnsupportedContentEncoding, fmt.Sprintf("Content-Encoding %q is not supported: send uncompressed JSON (no Content-Encoding header)", truncate(coding)))
			}
		}
	}
	return nil
}

// checkContentType accepts a JSON media type (application/json, any
// +json type, text/json) or none.
func checkContentType(values []string) error {
	if len(values) == 0 || values[0] == "" {
		return nil
	}
	v := values[0]
	if v == "application/json" || v == "application/json; charset=utf-8" {
		return nil // the usual case, without parsing
	}
	mt, _, err := mime.ParseMediaType(v)
	if err == nil {
		if mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json") {
			return nil
		}
	}
	return requestProblem(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Sprintf("content type %q is not supported: send application/json", truncate(v)))
}

// ruleErrorLog warns when a service-policy rule's condition could not be
// evaluated (the rule had no effect; situ_policy_rule_errors_total counts
// every case): at most once per interval per rule, with the number of
// failures not logged since. The context values are never logged.
type ruleErrorLog struct {
	log      *zap.Logger
	interval time.Duration
	now      func() time.Time // nil: time.Now
	state    atomic.Pointer[ruleErrorState]
}

// ruleErrorState is the log's memory for one policy, indexed by rule.
type ruleErrorState struct {
	policy     *policy.Policy
	next       [64]atomic.Int64 // Unix nanoseconds before which the rule is not logged again
	suppressed [64]atomic.Int64 // failures not logged since the last entry
}

func (l *ruleErrorLog) observe(d *scoring.Decision) {
	if d.Policy == nil {
		return
	}
	st := l.state.Load()
	if st == nil || st.policy != d.Policy {
		fresh := &ruleErrorState{policy: d.Policy}
		if !l.state.CompareAndSwap(st, fresh) {
			if st = l.state.Load(); st.policy != d.Policy {
				return // policies changing under heavy load: the metric still counts
			}
		} else {
			st = fresh
		}
	}
	clock := l.now
	if clock == nil {
		clock = time.Now
	}
	now := clock().UnixNano()
	for failed := d.Rules.Failed; failed != 0; failed &= failed - 1 {
		i := bits.TrailingZeros64(failed)
		if i >= d.Policy.NumRules() {
			break
		}
		next := st.next[i].Load()
		if now < next || !st.next[i].CompareAndSwap(next, now+int64(l.interval)) {
			st.suppressed[i].Add(1)
			continue
		}
		l.log.Warn("policy rule could not be evaluated; it had no effect",
			zap.String("rule", d.Policy.RuleID(i)),
			zap.Int64("suppressed", st.suppressed[i].Swap(0)),
			zap.Duration("interval", l.interval))
	}
}
