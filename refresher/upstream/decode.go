package upstream

import (
	"context"
	"encoding/json"
)

// Decode sends call, turns a non-zero code into an *Error like Check, and
// decodes the whole 2xx body (up to call.MaxBody) into v (for answers with more than one value:
// the Open Platform's authorization_info, an authorizer list). v receives
// whatever secrets the answer holds: the caller keeps them out of logs.
// A body that does not decode into v is a ClassRetry *Error that quotes
// nothing of it.
func (c *Caller) Decode(ctx context.Context, call Call, v any) error {
	body, err := c.exchange(ctx, call)
	if err != nil {
		return err
	}
	if _, err := decodeAnswerUpTo(body, call.Shape, call.secrets(), call.maxBody()); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return retryError("malformed response: " + call.Op + " answer has the wrong shape")
	}
	return nil
}
