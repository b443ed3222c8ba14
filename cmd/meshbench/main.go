// Command meshbench benchmarks service-mesh datapaths; see package app.
package main

import "github.com/meshbench/meshbench/app"

func main() { app.Main() }
