package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/neutrino-net/neutrino/internal/store"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Error is an API failure rendered as upstream's NeutronError body.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

func newErr(status int, typ, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, "HTTPBadRequest", format, args...)
}

func invalidInput(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: "InvalidInput", Message: "Invalid input for operation: " + fmt.Sprintf(format, args...) + "."}
}

// invalidInputType is an InvalidInput subclass of upstream's: its own
// type, the same message prefix.
func invalidInputType(typ, format string, args ...any) *Error {
	e := invalidInput(format, args...)
	e.Type = typ
	return e
}

func notFound(typ, format string, args ...any) *Error {
	return newErr(http.StatusNotFound, typ, format, args...)
}

func conflict(typ, format string, args ...any) *Error {
	return newErr(http.StatusConflict, typ, format, args...)
}

func policyDenied(rule string) *Error {
	return newErr(http.StatusForbidden, "PolicyNotAuthorized", "(rule:%s) is disallowed by policy", rule)
}

var errResourceNotFound = newErr(http.StatusNotFound, "HTTPNotFound", "The resource could not be found.")

// typedError is implemented by errors of other packages (ipam) that know
// their Neutron type and status.
type typedError interface {
	error
	Type() string
	Status() int
}

// writeError renders any error; unknown errors are 500s, logged.
func (a *API) writeError(w http.ResponseWriter, err error) { renderError(w, err, a.log) }

// renderError renders any error; unknown errors are 500s, logged to log.
func renderError(w http.ResponseWriter, err error, log *slog.Logger) {
	var e *Error
	var te typedError
	switch {
	case errors.As(err, &e):
	case errors.As(err, &te):
		e = &Error{Status: te.Status(), Type: te.Type(), Message: te.Error()}
		if m, ok := te.(interface{ Message() string }); ok {
			e.Message = m.Message()
		}
	case errors.Is(err, rpctypes.ErrTooManyOps):
		// A bulk request is one transaction; the etcd cluster caps its size.
		e = &Error{Status: http.StatusBadRequest, Type: "BadRequest", Message: "Bulk request too large for one transaction of the etcd cluster (its --max-txn-ops); send fewer items per request."}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrOutcomeUnknown):
		// etcd did not answer (leader election, lost quorum): say so, and
		// when to try again, instead of a 500 (docs/consistency.md).
		e = &Error{Status: http.StatusServiceUnavailable, Type: "ServiceUnavailable", Message: serviceUnavailableMessage(err)}
		w.Header().Set("Retry-After", retryAfterSeconds)
		log.Warn("store unavailable", "err", err)
	case errors.Is(err, store.ErrConflict):
		e = &Error{Status: http.StatusConflict, Type: "Conflict", Message: err.Error()}
	default:
		e = &Error{Status: http.StatusInternalServerError, Type: "InternalServerError", Message: "Request Failed: internal server error while processing your request."}
		log.Error("request failed", "err", err)
	}
	key := "NeutronError"
	if e.Status == http.StatusNotImplemented {
		key = "NotImplementedError"
	}
	body, _ := json.Marshal(map[string]any{key: map[string]string{"type": e.Type, "message": e.Message, "detail": ""}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(body)
}

// retryAfterSeconds is the Retry-After of a 503: about one etcd leader
// election.
const retryAfterSeconds = "2"

func serviceUnavailableMessage(err error) string {
	if errors.Is(err, store.ErrOutcomeUnknown) {
		return "The service is unavailable: the change was sent to the store but not confirmed; it may or may not have been applied. Read the resource before retrying."
	}
	return "The service is unavailable: the store could not be reached; nothing was changed. Retry later."
}
