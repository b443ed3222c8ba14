// Package builtin names what a meshbench binary is built with: every agent
// role it runs in pods and nodes (roles.go) and every datapath it can install
// (datapaths.go). These lists are the only registration; nothing registers
// itself from init.
package builtin
