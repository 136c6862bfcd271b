package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Call is one request to an upstream endpoint.
type Call struct {
	// Op names the endpoint in errors: "token", "getticket".
	Op string
	// Method is the HTTP method; "" means GET.
	Method string
	// Path is appended to the base URL: "/cgi-bin/token".
	Path string
	// Query is the URL query (nil: none). It may carry the secret.
	Query url.Values
	// JSON, when not nil, is encoded as the request body.
	JSON any
	// Secret is the secret sent in Query or JSON, if any: never quoted in
	// an error.
	Secret string
	// AccessToken is the token a ticket fetch or a probe is made with:
	// sent as the access_token query parameter and never quoted in an
	// error. With RequireToken set, an empty AccessToken fails without a
	// call.
	AccessToken  string
	RequireToken bool
	// Shape describes the answer.
	Shape Shape
	// MaxBody is the largest answer accepted; 0: MaxBodyBytes. Only
	// Decode honours a larger one (a page of an authorizer list).
	MaxBody int
}

// maxBody is c's body limit.
func (c *Call) maxBody() int {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return MaxBodyBytes
}

// secrets lists the values that must not appear in an error of c.
func (c *Call) secrets() []string { return []string{c.Secret, c.AccessToken} }

// Fetch sends call and parses a token or ticket answer (Shape.Value set).
// Errors are *Error for answers of the upstream (and a missing access
// token) and *TransportError for failed exchanges.
func (c *Caller) Fetch(ctx context.Context, call Call) (Token, error) {
	body, err := c.exchange(ctx, call)
	if err != nil {
		return Token{}, err
	}
	return ParseToken(body, call.Shape, c.minExpiresIn, call.secrets()...)
}

// FetchWithSecret gets the secret to send now (Caller.Secret), builds the
// call with it, marks it for redaction (Call.Secret) and fetches it.
func (c *Caller) FetchWithSecret(ctx context.Context, build func(secret string) Call) (Token, error) {
	secret, err := c.Secret()
	if err != nil {
		return Token{}, err
	}
	call := build(secret)
	call.Secret = secret
	return c.Fetch(ctx, call)
}

// Check sends call and parses an answer that carries only a code (a
// probe): nil when the code is zero or absent.
func (c *Caller) Check(ctx context.Context, call Call) error {
	body, err := c.exchange(ctx, call)
	if err != nil {
		return err
	}
	_, err = decodeAnswer(body, call.Shape, call.secrets())
	return err
}

// exchange sends call and returns the body of a 2xx answer of at most
// MaxBodyBytes; any other answer is an *Error.
func (c *Caller) exchange(ctx context.Context, call Call) ([]byte, error) {
	req, err := c.newRequest(ctx, call)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(call, err)
	}
	defer resp.Body.Close()
	limit := call.maxBody()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, c.transportError(call, err)
	}
	if len(body) > limit {
		return nil, &Error{
			Message:    fmt.Sprintf("response body larger than %d bytes", limit),
			HTTPStatus: resp.StatusCode,
			Class:      ClassRetry,
		}
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return body, nil
	}
	if call.Shape.CodedStatus {
		var ue *Error
		if _, err := decodeAnswer(body, call.Shape, call.secrets()); errors.As(err, &ue) && ue.Code != 0 {
			ue.HTTPStatus = resp.StatusCode
			return nil, ue
		}
	}
	return nil, &Error{
		Message:    "unexpected status " + CleanMessage(resp.Status, call.secrets()...),
		HTTPStatus: resp.StatusCode,
		Class:      ClassRetry,
	}
}

// newRequest builds the request of call with tokend's headers.
func (c *Caller) newRequest(ctx context.Context, call Call) (*http.Request, error) {
	if call.RequireToken && call.AccessToken == "" {
		return nil, &Error{Message: c.provider + ": " + call.Op + ": no access token to call with", Class: ClassRetry}
	}
	q := url.Values{}
	for k, v := range call.Query {
		q[k] = v
	}
	if call.AccessToken != "" {
		q.Set("access_token", call.AccessToken)
	}
	target := c.baseURL + call.Path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	method := call.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if call.JSON != nil {
		b, err := json.Marshal(call.JSON)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: encode request: %w", c.provider, call.Op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, c.transportError(call, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	return req, nil
}

// TransportError is a failure to exchange a request with the upstream
// (connection refused, timeout, cancelled context, broken body). Its message
// never contains the request URL, whose query carries the secret or a token.
type TransportError struct {
	// Op is the endpoint called: "token", "stable_token", "getticket", ...
	Op  string
	msg string
	err error
}

func (e *TransportError) Error() string { return e.msg }

// Unwrap returns the underlying error with the *url.Error layer removed,
// so errors.Is(err, context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.err }

// Timeout reports whether the failure was a timeout.
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout() || errors.Is(e.err, context.DeadlineExceeded)
}

// transportError builds a *TransportError from a net/http error, dropping the
// URL and redacting the secret and the token from whatever text remains.
func (c *Caller) transportError(call Call, err error) error {
	method := ""
	for {
		ue, ok := err.(*url.Error)
		if !ok {
			break
		}
		if method == "" {
			method = ue.Op + ": "
		}
		err = ue.Err
	}
	return &TransportError{
		Op:  call.Op,
		msg: c.provider + ": " + call.Op + ": " + method + Redact(err.Error(), call.secrets()...),
		err: err,
	}
}
