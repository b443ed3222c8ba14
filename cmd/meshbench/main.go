// Command meshbench benchmarks service-mesh datapaths; see internal/app.
package main

import "github.com/meshbench/meshbench/internal/app"

func main() { app.Main() }
