// Package kubenode holds the kube provider's agent roles, the processes it
// runs in pods and on nodes: pause, every container's idle process, and
// inspect, the node agent that finds the run's pods on its node. It needs no
// Kubernetes client, so that the slim agent binary, which carries the node
// roles only, stays free of client-go.
package kubenode
