package builtin

import (
	"fmt"
	"testing"

	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/scenarios"
)

func TestDatapathsListed(t *testing.T) {
	dps := Datapaths()
	if len(dps) == 0 {
		t.Fatal("no datapaths")
	}
	if got := dps[0].Name; got != none.Name {
		t.Errorf("the default (first) datapath is %q, want %q", got, none.Name)
	}
	seen := map[string]bool{}
	for i, k := range dps {
		switch {
		case k.Name == "":
			t.Errorf("datapath %d has no name", i)
		case seen[k.Name]:
			t.Errorf("datapath %s is listed twice", k.Name)
		case k.New == nil:
			t.Errorf("datapath %s has no factory", k.Name)
		case k.ProxyOptional && !k.Proxy:
			t.Errorf("datapath %s has an optional proxy but no proxy", k.Name)
		}
		seen[k.Name] = true
	}
}

// TestCatalogRuns resolves every built-in scenario against the datapaths
// and builds the datapath of each of its cases.
func TestCatalogRuns(t *testing.T) {
	dps := Datapaths()
	for _, m := range scenarios.Catalog() {
		t.Run(m.Name, func(t *testing.T) {
			s, err := scenarios.Resolve(m.Name, dps.Scenarios())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range scenarios.Expand(s) {
				if _, err := dps.New(c.Datapath, c.Options); err != nil {
					t.Errorf("case %s: %v", c.ID, err)
				}
			}
		})
	}
}

// TestFactoriesAgreeWithValidation checks each datapath's properties against
// its factory: the factory accepts exactly the options that a scenario
// naming the datapath may give.
func TestFactoriesAgreeWithValidation(t *testing.T) {
	dps := Datapaths()
	var sets []scenarios.DatapathOptions
	for _, mode := range []string{scenarios.ModeL4, scenarios.ModeL7} {
		for _, mtls := range []bool{false, true} {
			for _, proxy := range []string{scenarios.ProxyOn, scenarios.ProxyOff} {
				for _, wp := range []string{"", scenarios.WaypointServerNode, scenarios.WaypointClientNode} {
					sets = append(sets, scenarios.DatapathOptions{Mode: mode, MTLS: mtls, Proxy: proxy, Waypoint: wp != "", WaypointNode: wp})
				}
			}
		}
	}
	for _, k := range dps {
		for _, opts := range sets {
			t.Run(fmt.Sprintf("%s/%s/mtls=%v/proxy=%s/waypoint=%s", k.Name, opts.Mode, opts.MTLS, opts.Proxy, opts.WaypointNode), func(t *testing.T) {
				s := &scenarios.Spec{
					Datapaths:       []string{k.Name},
					DatapathOptions: map[string]scenarios.DatapathOptions{k.Name: opts},
				}
				scenarios.SetDefaults(s, dps.Scenarios())
				verr := scenarios.Validate(s, dps.Scenarios())
				dp, ferr := k.New(opts)
				switch {
				case verr == nil && ferr != nil:
					t.Errorf("validation accepts the options, but the factory says %v", ferr)
				case verr != nil && ferr == nil:
					t.Errorf("the factory accepts the options, but validation says %v", verr)
				case ferr == nil && dp == nil:
					t.Error("the factory returned no datapath and no error")
				}
			})
		}
	}
}
