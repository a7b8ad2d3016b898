package app

import (
	_ "embed"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// openapiJSON is docs/openapi.yaml, the API's description, converted to
// JSON: embed cannot reach docs/ from here. TestOpenAPIJSONIsTheYAML fails
// while the two differ; go test ./app -run OpenAPIJSON -update rewrites it.
//
//go:embed openapi.json
var openapiJSON []byte

// handleOpenAPI serves the API's description (OpenAPI 3.1) outside the
// envelope, as client generators read it. It changes only with the binary,
// so caches may keep it briefly.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeRaw(w, http.StatusOK, openapiJSON)
	return nil
}
