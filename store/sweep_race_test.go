//go:build race

package store_test

// raceEnabled scales the big sweep test down under the race detector,
// which makes bbolt writes many times slower.
const raceEnabled = true
