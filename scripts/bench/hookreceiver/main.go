// Command hookreceiver answers every request 204 at once and counts them:
// the "live endpoint" of scripts/bench/webhooks.sh.
//
//	hookreceiver ADDR
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
)

func main() {
	var n atomic.Uint64
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, n.Load()) })
	if err := http.ListenAndServe(os.Args[1], nil); err != nil { // #nosec G114 -- a loopback benchmark helper
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
