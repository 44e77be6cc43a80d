package schema

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ordo-go/ordo/internal/telemetry"
)

// RegistryError is a failed call to the schema registry. errors.Is matches
// it against [ErrSubjectNotFound], [ErrVersionNotFound], [ErrUnknownSchema]
// and [ErrInvalidSchema] by the registry's error code, against [ErrInvalid]
// for code 42201 and against [ErrIncompatible] for code 409; errors.As reaches franz-go's
// *sr.ResponseError (and, for a transport failure, the *url.Error) through
// Unwrap. A transport failure has Code 0 and Status 0 and matches none of
// the sentinels.
//
// A registry URL may carry credentials (http://user:password@host): the
// password is replaced by "xxxxx" in the text of a RegistryError, in every
// error it unwraps to and in their URL fields.
type RegistryError struct {
	// Op says what was being done, e.g. `fetch schema 42`.
	Op string
	// Code is the registry's error code (40403, 42201, 50001, ...), 0 if the
	// registry did not answer with one.
	Code int
	// Status is the HTTP status, 0 if there was no response.
	Status int
	// Err is the underlying error (*sr.ResponseError or a transport error).
	Err error
}

// Error formats the failure, with any password in a URL redacted: this is
// the one place a registry error is formatted.
func (e *RegistryError) Error() string {
	if e.Status == 0 {
		return telemetry.Redact(fmt.Sprintf("schema registry: %s: %v", e.Op, e.Err))
	}
	return telemetry.Redact(fmt.Sprintf("schema registry: %s: HTTP %d, error %d: %v", e.Op, e.Status, e.Code, e.Err))
}

// Unwrap returns the underlying error.
func (e *RegistryError) Unwrap() error { return e.Err }

// Is matches the registry sentinels by error code, and [ErrInvalid] for
// the registry's refusal of the schema text (42201, [ErrInvalidSchema]):
// an invalid schema matches ErrInvalid whoever found it.
func (e *RegistryError) Is(target error) bool {
	switch target {
	case ErrIncompatible:
		return e.Code == 409
	case ErrInvalid:
		return e.Code == ErrInvalidSchema.code
	}
	rc, ok := target.(*registryCode)
	return ok && e.Code != 0 && e.Code == rc.code
}

// Temporary reports whether the failure may pass on retry, as opposed to
// a verdict on what was asked: no answer at all (a transport failure, the
// [LookupTimeout] or the caller's ctx running out, an unreadable response),
// a 5xx, a 429 (too many requests), a 408 (request timeout), or a 401 or
// 403 (the client's credentials, not the record, are at fault: a rotated
// password or token fixes it). Any other 4xx, unknown IDs included, is
// permanent.
func (e *RegistryError) Temporary() bool {
	switch e.Status {
	case 0, http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	}
	return e.Status >= 500
}

// IsTransient reports whether err, returned by a [Registry] method, is an
// outage that may pass if the same call is retried later, rather than a
// permanent verdict on what was asked. Callers deciding between "retry"
// and "poison" (a consumer resolving a record's writer schema) use it:
//
//   - transient: a *[RegistryError] whose Temporary is true (no answer, the
//     [LookupTimeout] or the caller's ctx ran out, 5xx, 429, 408, 401,
//     403); a bare context.Canceled or context.DeadlineExceeded.
//   - permanent: everything else, in particular [ErrUnknownSchema] (40403:
//     the registry answered that no schema has this ID; ordo does not ask
//     again, a caller wanting a confirmation window retries it itself),
//     [ErrUnusableSchema] (a writer schema that is not Avro, does not
//     parse, or references a subject or version the registry does not
//     have; a reference the registry could not be asked about is
//     transient), [ErrInvalid], [ErrIncompatible],
//     [ErrInvalidConfig], and any other 4xx answer.
//
// IsTransient(nil) is false.
func IsTransient(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, ErrUnusableSchema), errors.Is(err, ErrInvalid),
		errors.Is(err, ErrIncompatible), errors.Is(err, ErrInvalidConfig):
		return false
	}
	var re *RegistryError
	if errors.As(err, &re) {
		return re.Temporary()
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// wrap turns an error from franz-go's client into a *RegistryError, with
// credentials redacted from its chain and the lookup timeout named when it
// is what ended ctx.
func wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	re := &RegistryError{Op: op, Err: redactErr(err)}
	var resp *sr.ResponseError
	if errors.As(err, &resp) {
		re.Code, re.Status = resp.ErrorCode, resp.StatusCode
	}
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() && errors.Is(err, ctx.Err()) {
		re.Err = &causeError{err: re.Err, cause: cause}
	}
	return re
}

// causeError adds the cause of a context that ended (e.g. "no answer within
// the lookup timeout of 5s") to the error it caused.
type causeError struct{ err, cause error }

func (e *causeError) Error() string   { return e.err.Error() + " (" + e.cause.Error() + ")" }
func (e *causeError) Unwrap() []error { return []error{e.err, e.cause} }

// redactErr returns err, or when its text or a URL field of an error in
// its chain carries a password, an error with the text redacted that
// unwraps to redacted copies of the typed errors in the chain (franz-go's
// *sr.ResponseError, net/http's *url.Error), so errors.As keeps working
// and nothing reachable holds the password.
func redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg, inner := telemetry.Redact(err.Error()), redactedInner(err)
	if msg == err.Error() && inner == err {
		return err
	}
	return &redactedError{msg: msg, err: inner}
}

// redactedInner returns the first error in err's chain that is safe to
// expose: err itself if its text is clean and it holds no typed error, else
// a redacted copy of the first typed one, else the first clean error below.
func redactedInner(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch t := e.(type) {
		case *sr.ResponseError:
			c := *t
			c.URL, c.Message, c.Raw = telemetry.Redact(c.URL), telemetry.Redact(c.Message), []byte(telemetry.Redact(string(c.Raw)))
			return &c
		case *url.Error:
			return &url.Error{Op: t.Op, URL: telemetry.Redact(t.URL), Err: redactErr(t.Err)}
		}
		var resp *sr.ResponseError
		var ue *url.Error
		if telemetry.Redact(e.Error()) == e.Error() && !errors.As(e, &resp) && !errors.As(e, &ue) {
			return e
		}
	}
	return nil
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
