package ui

import (
	"io/fs"
	"testing"
)

// TestEveryEmbeddedAssetHasItsOwnType: the asset types come from a fixed
// table, not the host's mime.types, so a new kind of asset must be added to
// it; otherwise it would be served as application/octet-stream (and, with
// nosniff, not run or shown).
func TestEveryEmbeddedAssetHasItsOwnType(t *testing.T) {
	static, err := fs.Sub(files, "embed")
	if err != nil {
		t.Fatal(err)
	}
	assets, _ := loadAssets(static)
	if len(assets) < 5 {
		t.Fatalf("loaded %d assets", len(assets))
	}
	for name, a := range assets {
		if a.contentType == "application/octet-stream" {
			t.Errorf("%s: no Content-Type in assetType's table", name)
		}
	}
	if got := assetType(".exe"); got != "application/octet-stream" {
		t.Errorf("unknown extension: %q", got)
	}
}
