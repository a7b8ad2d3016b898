package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxBodyBytes is the contract's body limit.
const maxBodyBytes = 1 << 20

type envelope struct {
	Success bool                `json:"success"`
	Code    string              `json:"code,omitempty"`
	Message string              `json:"message"`
	Data    any                 `json:"data"`
	Errors  map[string][]string `json:"errors,omitempty"`
}

type failureEnvelope struct {
	Success bool                `json:"success"`
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors,omitempty"`
}

func writeBody(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		// Only our own types are encoded here; this cannot leak internals.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"success":false,"code":"internal","message":"Something went wrong on our side. Please try again later."}` + "\n")
	}
	writeRaw(w, status, buf.Bytes())
}

// writeRaw sends body, which is JSON, with its length.
func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// answer ends a handler: err (the flow's) goes back to the adapter that
// writes it; without one, v is written in the success envelope.
func answer(w http.ResponseWriter, status int, message string, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, message, v)
	return nil
}

// writeJSON answers with the success envelope. Data that writes its own
// JSON is framed here by hand, to the same bytes encoding/json would send.
func writeJSON(w http.ResponseWriter, status int, message string, data any) {
	if a, ok := data.(jsonAppender); ok {
		writeJSONWith(w, nil, status, message, a) // localizes message
		return
	}
	writeBody(w, status, envelope{Success: true, Message: localize(w, message), Data: data})
}

// writeJSONWith answers a in the success envelope, built in buf's room
// (grown to fit when it is short), and returns the buffer for reuse: the
// body is copied out before writeJSONWith returns.
func writeJSONWith(w http.ResponseWriter, buf []byte, status int, message string, a jsonAppender) []byte {
	const frame = len(`{"success":true,"message":"","data":}` + "\n")
	message = localize(w, message) // the one place an appender's answer is localized
	b := slices.Grow(buf[:0], frame+len(message)+a.jsonSize())
	b = append(b, `{"success":true,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, `,"data":`...)
	b = a.appendJSON(b)
	b = append(b, "}\n"...)
	writeRaw(w, status, b)
	return b
}

// writeError answers err in the failure envelope: the one place where codes
// become statuses. Internal errors are logged once with the request id and
// answered with a generic message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e, known := asError(err)
	if !known {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()), "err", err)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
	writeBody(w, e.Status(), failureEnvelope{Code: e.Code, Message: localize(w, e.Message), Errors: localizeFields(w, e.Fields)})
}

// decodeJSON reads a JSON object body into v: 415 for another content type,
// 413 over the limit, 400 naming the problem for anything malformed.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &Error{Code: CodeUnsupportedMedia, Message: "Send the request body as JSON (Content-Type: application/json)."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Code: CodeTooLarge, Message: "The request body is larger than 1 MiB."}
		}
		return errorf(CodeValidation, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(CodeValidation, "The request body is empty; send a JSON object.")
	}
	if !utf8.Valid(body) {
		return errorf(CodeValidation, "The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errorf(CodeValidation, "The request body is not valid JSON: %s.", describeJSONError(err))
	}
	if dec.More() {
		return errorf(CodeValidation, "The request body has data after the JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(CodeValidation, "The request body has data after the JSON object.")
	}
	return nil
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("expected a JSON object, not %s", typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "it ends too early"
	}
	return "it cannot be decoded"
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int64", "float64":
		return "a number"
	}
	return "of another type"
}
