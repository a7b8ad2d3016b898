package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// The API's description is docs/openapi.yaml. The binary serves it as
// JSON from app/openapi.json (embed cannot reach docs/), which must be
// exactly the YAML converted: after changing the YAML,
//
//	go test ./app -run OpenAPIJSON -update
//
// TestMain (main_test.go) holds every answer the tests of this package
// receive to the description; the tests here hold the description to the
// routes and error codes of the code.

const openapiYAMLPath = "../docs/openapi.yaml"

// yamlToJSON converts a YAML document to JSON indented by two spaces,
// keeping the order of its keys, so that app/openapi.json reads (and
// diffs) like the YAML. Keys must be plain strings, and each key appears
// once per mapping.
func yamlToJSON(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("want one YAML document")
	}
	var b bytes.Buffer
	if err := appendJSONNode(&b, doc.Content[0], ""); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func appendJSONNode(b *bytes.Buffer, n *yaml.Node, indent string) error {
	switch n.Kind {
	case yaml.AliasNode:
		return appendJSONNode(b, n.Alias, indent)
	case yaml.MappingNode:
		seen := map[string]bool{}
		return appendJSONItems(b, "{", "}", len(n.Content)/2, indent, func(i int, inner string) error {
			k, v := n.Content[2*i], n.Content[2*i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: a key must be a plain scalar", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: key %q appears twice", k.Line, k.Value)
			}
			seen[k.Value] = true
			appendJSONText(b, k.Value)
			b.WriteString(": ")
			return appendJSONNode(b, v, inner)
		})
	case yaml.SequenceNode:
		return appendJSONItems(b, "[", "]", len(n.Content), indent, func(i int, inner string) error {
			return appendJSONNode(b, n.Content[i], inner)
		})
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			appendJSONText(b, n.Value)
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return err
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int":
			var v int64
			if err := n.Decode(&v); err != nil {
				return err
			}
			b.WriteString(strconv.FormatInt(v, 10))
		case "!!float":
			var v float64
			if err := n.Decode(&v); err != nil {
				return err
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
			}
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		default:
			return fmt.Errorf("line %d: unsupported tag %s", n.Line, n.Tag)
		}
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

// appendJSONItems appends an object or array of count items between open
// and close, one item a line indented one step more than indent; item
// appends the i-th (a value, or a key and its value).
func appendJSONItems(b *bytes.Buffer, open, close string, count int, indent string, item func(i int, inner string) error) error {
	if count == 0 {
		b.WriteString(open + close)
		return nil
	}
	inner := indent + "  "
	b.WriteString(open + "\n")
	for i := range count {
		b.WriteString(inner)
		if err := item(i, inner); err != nil {
			return err
		}
		if i+1 < count {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(indent + close)
	return nil
}

// appendJSONText appends s as a JSON string, leaving <, > and & as they
// are (the document is read by tools, never put into a page).
func appendJSONText(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	b.Truncate(b.Len() - 1)
}

// openapiFromYAML is docs/openapi.yaml as JSON.
func openapiFromYAML(tb testing.TB) []byte {
	tb.Helper()
	src, err := os.ReadFile(openapiYAMLPath)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := yamlToJSON(src)
	if err != nil {
		tb.Fatalf("%s: %v", openapiYAMLPath, err)
	}
	return out
}

// loadOpenAPI loads the description with kin-openapi and validates it as
// an OpenAPI 3.1 document.
func loadOpenAPI(data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapi is %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	return doc, nil
}

func TestOpenAPIJSONIsTheYAML(t *testing.T) {
	want := openapiFromYAML(t)
	if *updateGolden {
		if err := os.WriteFile("openapi.json", want, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("app/openapi.json is not docs/openapi.yaml as JSON: run go test ./app -run OpenAPIJSON -update")
	}
	if !bytes.Equal(openapiJSON, got) {
		t.Fatalf("the embedded description differs from app/openapi.json on disk (rebuild)")
	}
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := loadOpenAPI(openapiFromYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			}
			if other, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share operationId %q", where, other, op.OperationID)
			}
			ids[op.OperationID] = where
			if op.Responses.Status(500) == nil {
				t.Errorf("%s does not describe 500 internal", where)
			}
			if op.Responses.Status(400) == nil {
				t.Errorf("%s does not describe 400 (a Host that is not served is 400 on every route)", where)
			}
			if unsafeMethod(method) && strings.HasPrefix(path, "/api/") {
				for _, st := range []int{403, 415} { // cross-origin refusal, form content types
					if op.Responses.Status(st) == nil {
						t.Errorf("%s does not describe %d, which every state-changing request can get", where, st)
					}
				}
			}
			for code, r := range op.Responses.Map() {
				if r.Value != nil && r.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s %s: no X-Request-Id header (every answer has one)", where, code)
				}
			}
		}
	}
}

// TestOpenAPIErrorCodes holds the description's ErrorCode enum to codeStatus.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc, err := loadOpenAPI(openapiFromYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Components.Schemas["ErrorCode"]
	if s == nil || s.Value == nil {
		t.Fatal("no ErrorCode schema")
	}
	var described []string
	for _, v := range s.Value.Enum {
		described = append(described, fmt.Sprint(v))
	}
	var codes []string
	for c := range codeStatus {
		codes = append(codes, c)
	}
	slices.Sort(described)
	slices.Sort(codes)
	if !slices.Equal(described, codes) {
		t.Fatalf("ErrorCode enum:\n  %v\nerrors.go codeStatus:\n  %v", described, codes)
	}
	for c, st := range codeStatus {
		if !strings.Contains(s.Value.Description, fmt.Sprintf("| `%s` | %d |", c, st)) {
			t.Errorf("ErrorCode's table does not give %s status %d", c, st)
		}
	}
}

// TestOpenAPIDescribesEveryRoute holds the description to routes.go both
// ways: every route is described, and every operation is served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc, err := loadOpenAPI(openapiFromYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, nil) // development: the dev mail routes too
	served := map[string]bool{}
	for _, r := range ts.srv.routeList {
		method, pattern, _ := strings.Cut(r, " ")
		path := openapiPath(pattern)
		served[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("routes.go serves %s %s, which docs/openapi.yaml does not describe", method, path)
		}
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		for _, method := range slices.Sorted(maps.Keys(doc.Paths.Value(path).Operations())) {
			op := method + " " + path
			if !served[op] {
				t.Errorf("docs/openapi.yaml describes %s, which routes.go does not serve", op)
			}
		}
	}
}

// openapiPath writes an httprouter pattern as an OpenAPI path:
// /users/:id becomes /users/{id}.
func openapiPath(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

func TestOpenAPIServed(t *testing.T) {
	ts := newTestServer(t, nil)
	r := ts.client().do("GET", "/api/v1/openapi.json", nil).want(t, 200, "")
	if !bytes.Equal(r.Body, openapiJSON) {
		t.Fatal("GET /api/v1/openapi.json is not the embedded description")
	}
	if got := r.Header.Get("Cache-Control"); got != "public, max-age=300" {
		t.Fatalf("Cache-Control %q", got)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var v struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || !strings.HasPrefix(v.OpenAPI, "3.1.") {
		t.Fatalf("openapi %q, %v", v.OpenAPI, err)
	}
	if _, err := loadOpenAPI(r.Body); err != nil {
		t.Fatal(err)
	}
}

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a: 1\nb: [x, 'y', 2.5, true, null]\nc: {}\n", "{\n  \"a\": 1,\n  \"b\": [\n    \"x\",\n    \"y\",\n    2.5,\n    true,\n    null\n  ],\n  \"c\": {}\n}\n"},
		{"'200': {d: '<a & b>'}\n", "{\n  \"200\": {\n    \"d\": \"<a & b>\"\n  }\n}\n"},
		{"z: 1\na: 2\n", "{\n  \"z\": 1,\n  \"a\": 2\n}\n"},
		{"x: &a {k: v}\ny: *a\n", "{\n  \"x\": {\n    \"k\": \"v\"\n  },\n  \"y\": {\n    \"k\": \"v\"\n  }\n}\n"},
	} {
		got, err := yamlToJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("yamlToJSON(%q):\n%s%v\nwant:\n%s", tc.in, got, err, tc.want)
		}
		if !json.Valid(got) {
			t.Errorf("yamlToJSON(%q) is not JSON", tc.in)
		}
	}
	for _, in := range []string{"a: 1\na: 2\n", "? [x]\n: 1\n", "a: .nan\n", "<<: {a: 1}\n"} {
		if _, err := yamlToJSON([]byte(in)); err == nil {
			t.Errorf("yamlToJSON(%q): no error", in)
		}
	}
}
