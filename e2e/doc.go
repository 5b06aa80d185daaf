// Package e2e holds situ's end-to-end tests: the situ binary, built once,
// runs as real processes against an embedded Kafka-compatible broker over
// TCP, and is driven over HTTP on loopback. It has no code of its own.
package e2e
