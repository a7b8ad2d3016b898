package app

import (
	"fmt"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// qrQuietZone is the blank border, in modules, that readers need (ISO/IEC
// 18004 asks for four).
const qrQuietZone = 4

// qrSVG renders text as a QR code in SVG: one path of unit squares, drawn
// by the server so that no image service or script ever sees the secret.
func qrSVG(text string) (string, error) {
	code, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return "", err
	}
	var m matrixWriter
	if err := code.Save(&m); err != nil {
		return "", err
	}
	return svgOfBitmap(m.bitmap), nil
}

// svgOfBitmap draws rows of dark modules (true) on white.
func svgOfBitmap(rows [][]bool) string {
	size := len(rows) + 2*qrQuietZone
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges" role="img" aria-label="QR code">`, size, size, size*6, size*6)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, size, size)
	for y, row := range rows {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+qrQuietZone, y+qrQuietZone)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// matrixWriter keeps the module matrix go-qrcode hands its writers.
type matrixWriter struct{ bitmap [][]bool }

func (m *matrixWriter) Write(mat qrcode.Matrix) error {
	m.bitmap = mat.Bitmap()
	return nil
}

func (m *matrixWriter) Close() error { return nil }
