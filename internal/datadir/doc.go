// Package datadir owns situ's data directory (--data-dir): the exclusive
// lock that keeps a second process out of it while one uses it. The lock
// is an advisory flock(2) on <dir>/situ.lock: the kernel releases it when
// the holder exits, however it exits (SIGKILL included), so a crash never
// leaves a stale lock behind. The file also records who holds it (pid,
// role, addresses, start time) so that a refused process can say which
// one to stop.
package datadir
