package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Client calls a server's admin API (AdminHandler): what `scd canary` and a
// deploy use. The zero value is not usable; set Addr.
type Client struct {
	// Addr is the admin listener: host:port or unix:/path.
	Addr string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client to use; nil means one made for Addr.
	HTTP *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	hc, base := c.HTTP, "http://"+c.Addr
	if sock, ok := strings.CutPrefix(c.Addr, "unix:"); ok {
		base = "http://scd"
		if hc == nil {
			hc = &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "unix", sock)
				},
			}}
		}
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin api %s: %w", c.Addr, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("admin api %s: %w", c.Addr, err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &APIError{Code: res.StatusCode, Message: e.Error}
		}
		return &APIError{Code: res.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// APIError is an admin API answer other than 200.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("admin api: %d: %s", e.Code, e.Message) }

// Status is GET /-/release.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, "GET", "/-/release", nil, &st)
	return st, err
}

// Reload makes the server re-read current; it returns the active release.
func (c *Client) Reload(ctx context.Context) (string, error) {
	var v struct{ Active string }
	err := c.do(ctx, "POST", "/-/reload", nil, &v)
	return v.Active, err
}

// Hold opens a hold of at most d (0: the server's --hold-timeout).
func (c *Client) Hold(ctx context.Context, d time.Duration) (HoldStatus, error) {
	var in struct {
		Timeout string `json:"timeout,omitempty"`
	}
	if d > 0 {
		in.Timeout = d.String()
	}
	var st HoldStatus
	err := c.do(ctx, "POST", "/-/hold", in, &st)
	return st, err
}

// ReleaseHold ends the hold; it reports whether one was open.
func (c *Client) ReleaseHold(ctx context.Context) (bool, error) {
	var v struct{ Released bool }
	err := c.do(ctx, "DELETE", "/-/hold", nil, &v)
	return v.Released, err
}

// StartCanary sends percent of clients to release.
func (c *Client) StartCanary(ctx context.Context, release string, percent int) (CanaryStatus, error) {
	var st CanaryStatus
	err := c.do(ctx, "POST", "/-/canary", map[string]any{"release": release, "percent": percent}, &st)
	return st, err
}

// PromoteCanary activates the canary release; it returns its id.
func (c *Client) PromoteCanary(ctx context.Context) (string, error) {
	var v struct{ Active string }
	err := c.do(ctx, "POST", "/-/canary/promote", nil, &v)
	return v.Active, err
}

// AbortCanary ends the canary; it reports whether one was running.
func (c *Client) AbortCanary(ctx context.Context) (bool, error) {
	var v struct{ Aborted bool }
	err := c.do(ctx, "POST", "/-/canary/abort", nil, &v)
	return v.Aborted, err
}

// IsNotFound reports whether err is an admin API 404 (an unknown release).
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == http.StatusNotFound
}
