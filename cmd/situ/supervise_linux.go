//go:build linux

package main

import "syscall"

// childProcAttr puts a child in a process group of its own (signals to the
// parent's group, a Ctrl-C, reach only the parent) and has the kernel kill
// it when the parent dies, however it dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// lowerPriority sets the nice value of every thread of the child's
// process group (the child alone): the threads its runtime starts later
// inherit it.
func lowerPriority(pid, nice int) error {
	return syscall.Setpriority(syscall.PRIO_PGRP, pid, nice)
}
