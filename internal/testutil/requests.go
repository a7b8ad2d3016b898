package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// JSONRequest is a request to url with in, encoded as JSON, as its body and
// the matching Content-Type; a nil in sends no body and no Content-Type.
func JSONRequest(ctx context.Context, method, url string, in any) (*http.Request, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// SendJSON sends in as JSON (JSONRequest) with client, header added, and
// fails the test when no answer comes; the caller closes the body.
func SendJSON(t testing.TB, client *http.Client, method, url string, in any, header http.Header) *http.Response {
	t.Helper()
	req, err := JSONRequest(context.Background(), method, url, in)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// BearerStatus is the status of GET url with "Authorization: Bearer token"
// (an API key or a session token), whatever the status is.
func BearerStatus(t testing.TB, url, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
