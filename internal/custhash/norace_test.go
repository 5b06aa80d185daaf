//go:build !race

package custhash_test

const raceEnabled = false
