//go:build !linux

package main

import "syscall"

// childProcAttr puts a child in a process group of its own (signals to the
// parent's group, a Ctrl-C, reach only the parent). Only Linux can have the
// kernel kill it when the parent dies: elsewhere a SIGKILLed parent leaves
// its children running.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// lowerPriority leaves the child's priority alone on this platform.
func lowerPriority(int, int) error { return nil }
