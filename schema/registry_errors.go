package schema

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
)

// RegistryError is a failed call to the schema registry. errors.Is matches
// it against [ErrSubjectNotFound], [ErrVersionNotFound], [ErrUnknownSchema]
// and [ErrInvalidSchema] by the registry's error code, and against
// [ErrIncompatible] for code 409; errors.As reaches franz-go's
// *sr.ResponseError through Unwrap. A transport failure has Code 0 and
// Status 0 and matches none of the sentinels.
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

func (e *RegistryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("schema registry: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("schema registry: %s: HTTP %d, error %d: %v", e.Op, e.Status, e.Code, e.Err)
}

// Unwrap returns the underlying error.
func (e *RegistryError) Unwrap() error { return e.Err }

// Is matches the registry sentinels by error code.
func (e *RegistryError) Is(target error) bool {
	if target == ErrIncompatible {
		return e.Code == 409
	}
	rc, ok := target.(*registryCode)
	return ok && e.Code != 0 && e.Code == rc.code
}

// Temporary reports whether the failure may pass on retry: no answer, or a
// 5xx/429 answer.
func (e *RegistryError) Temporary() bool {
	return e.Status == 0 || e.Status >= 500 || e.Status == 429
}

// wrap turns an error from franz-go's client into a *RegistryError.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	re := &RegistryError{Op: op, Err: err}
	var resp *sr.ResponseError
	if errors.As(err, &resp) {
		re.Code, re.Status = resp.ErrorCode, resp.StatusCode
	}
	return re
}
