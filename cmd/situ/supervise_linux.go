//go:build linux

package main

import "syscall"

// childProcAttr puts a child in a process group of its own (signals to the
// parent's group, a Ctrl-C, reach only the parent) and has the kernel kill
// it when the parent dies, however it dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
