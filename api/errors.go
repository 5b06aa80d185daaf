package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"situ/control"
	"situ/features"
	"situ/policy"

	"situ/internal/jsonw"
)

// Error codes of the JSON problem responses
// {"error": {"code": ..., "message": ..., "field": ...}}. docs/api.md lists
// each with its status.
const (
	CodeBadRequest                  = "bad_request"                   // 400: not a valid HTTP/1.1 request (request line, headers, Host)
	CodeInvalidJSON                 = "invalid_json"                  // 400: not JSON (or not UTF-8), or data after the JSON value
	CodeInvalidType                 = "invalid_type"                  // 400: a field holds the wrong JSON type
	CodeUnknownField                = "unknown_field"                 // 400: a field the contract does not define
	CodeInvalidField                = "invalid_field"                 // 400: a value outside what the field allows
	CodeNotFound                    = "not_found"                     // 404: no such route, or no such configuration version
	CodeMethodNotAllowed            = "method_not_allowed"            // 405
	CodeRequestTimeout              = "request_timeout"               // 408: the body did not arrive within the server's read timeout
	CodeBodyTooLarge                = "body_too_large"                // 413
	CodeUnsupportedMediaType        = "unsupported_media_type"        // 415: Content-Type is not JSON
	CodeUnsupportedContentEncoding  = "unsupported_content_encoding"  // 415: a compressed body
	CodeStaleVersion                = "stale_version"                 // 409: a change made on a version that is no longer the current one
	CodeConflict                    = "conflict"                      // 409: a change the current state refuses (an experiment id in use, an experiment already stopped)
	CodeNoEligibleTreatment         = "no_eligible_treatment"         // 422: the service policy removed every offered treatment
	CodeHeaderTooLarge              = "header_too_large"              // 431: request line and headers over MaxHeaderBytes
	CodeCanceled                    = "canceled"                      // 499: the client went away
	CodeInternal                    = "internal"                      // 500
	CodeUnsupportedTransferEncoding = "unsupported_transfer_encoding" // 501: a Transfer-Encoding other than chunked
	CodeUnavailable                 = "unavailable"                   // 503: a dependency cannot take the request now
	CodeNotReady                    = "not_ready"                     // 503: /readyz
	CodeTimeout                     = "timeout"                       // 503: the request ran out of time
	CodeUnsupportedHTTPVersion      = "unsupported_http_version"      // 505
)

// StatusClientClosedRequest is the (nginx) status recorded when the client
// went away before the answer; the client never sees it.
const StatusClientClosedRequest = 499

// requestError is a problem with the HTTP request itself (media type, size,
// JSON syntax or shape), found before the decision path sees it, with the
// status and code it is answered with. Its FieldError names the field to
// blame; Field is empty when no one field is.
type requestError struct {
	status int
	code   string
	features.FieldError
}

// requestProblem is a request error no one field is to blame for.
func requestProblem(status int, code, message string) *requestError {
	return &requestError{status: status, code: code, FieldError: features.FieldError{Message: message}}
}

// fieldProblem is a 400 request error of one field.
func fieldProblem(code, field, message string) *requestError {
	return &requestError{status: http.StatusBadRequest, code: code, FieldError: features.FieldError{Field: field, Message: message}}
}

func (e *requestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.FieldError.Error()
}

// unavailableError means a dependency behind the API (the outcome sink)
// cannot take the request now; the client may retry.
type unavailableError struct {
	message string
	err     error
}

func (e *unavailableError) Error() string {
	if e.err == nil {
		return e.message
	}
	return e.message + ": " + e.err.Error()
}

func (e *unavailableError) Unwrap() error { return e.err }

// problem is what a client sees of an error.
type problem struct {
	status  int
	code    string
	field   string
	message string
}

// problemFor maps an error to the status and JSON problem a client sees. It
// is the one place where error types meet HTTP statuses.
func problemFor(err error) problem {
	var (
		reqErr      *requestError
		fieldErr    *features.FieldError
		noEligible  *policy.NoEligibleError
		unavailable *unavailableError
		stale       *control.StaleError
		unknownVer  *control.UnknownVersionError
	)
	switch {
	case errors.As(err, &reqErr):
		return problem{reqErr.status, reqErr.code, reqErr.Field, reqErr.Message}
	case errors.As(err, &fieldErr):
		return problem{http.StatusBadRequest, CodeInvalidField, fieldErr.Field, fieldErr.Message}
	case errors.As(err, &stale):
		return problem{http.StatusConflict, CodeStaleVersion, "base_version", stale.Error()}
	case errors.As(err, &unknownVer):
		return problem{http.StatusNotFound, CodeNotFound, "", unknownVer.Error()}
	case errors.As(err, &noEligible):
		return problem{http.StatusUnprocessableEntity, CodeNoEligibleTreatment, "treatments", noEligible.Error()}
	case errors.As(err, &unavailable):
		return problem{http.StatusServiceUnavailable, CodeUnavailable, "", unavailable.message}
	case errors.Is(err, context.Canceled):
		return problem{StatusClientClosedRequest, CodeCanceled, "", "the request was canceled"}
	case errors.Is(err, context.DeadlineExceeded):
		return problem{http.StatusServiceUnavailable, CodeTimeout, "", "the request ran out of time; retry"}
	default:
		return problem{http.StatusInternalServerError, CodeInternal, "", "internal error"}
	}
}

// writeError answers with the JSON problem for err. Server-side failures
// are logged; client mistakes are not (the request log has their status).
func (s *Server) writeError(c *gin.Context, err error) {
	p := problemFor(err)
	switch {
	case p.status == http.StatusInternalServerError:
		s.log.Error("request failed", zap.String("route", c.FullPath()), zap.Error(err))
	case p.code == CodeUnavailable:
		s.log.Warn("dependency unavailable", zap.String("route", c.FullPath()), zap.Error(err))
		c.Header("Retry-After", "5") // seconds; the outcome is safe to retry (outcome_id)
	}
	s.writeProblem(c, p)
}

// problemKey is where writeProblem leaves the problem in the gin context
// for the request log (instrument).
const problemKey = "situ.problem"

func (s *Server) writeProblem(c *gin.Context, p problem) {
	c.Set(problemKey, p)
	bp := s.getBuffer()
	b := appendProblem((*bp)[:0], p)
	writeJSON(c, p.status, b)
	s.putBuffer(bp, b)
}

// appendProblem appends {"error":{"code":…,"message":…,"field":…}}; field
// is left out when empty.
func appendProblem(b []byte, p problem) []byte {
	b = append(b, `{"error":{"code":`...)
	b = jsonw.String(b, p.code)
	b = append(b, `,"message":`...)
	b = jsonw.String(b, p.message)
	if p.field != "" {
		b = append(b, `,"field":`...)
		b = jsonw.String(b, p.field)
	}
	return append(b, "}}\n"...)
}

var jsonContentType = []string{"application/json; charset=utf-8"}

// writeJSON writes a complete JSON body with its status.
func writeJSON(c *gin.Context, status int, body []byte) {
	h := c.Writer.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	c.Writer.WriteHeader(status)
	_, _ = c.Writer.Write(body) // a client that went away is not an error of ours
}

// truncate shortens what a client sent for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
