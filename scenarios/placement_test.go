package scenarios

import (
	"slices"
	"testing"
)

func TestPlacePods(t *testing.T) {
	tests := []struct {
		name           string
		nodes          int
		placement      string
		services, pods int
		want           [][]int
	}{
		{"same-node", 3, SameNode, 2, 2, [][]int{{0, 0}, {0, 0}}},
		{"cross-node one service", 3, CrossNode, 1, 1, [][]int{{1}}},
		{"cross-node round-robin", 3, CrossNode, 2, 3, [][]int{{1, 2, 1}, {2, 1, 2}}},
		{"cross-node two nodes", 2, CrossNode, 3, 1, [][]int{{1}, {1}, {1}}},
		{"spread", 3, Spread, 4, 1, [][]int{{0}, {1}, {2}, {0}}},
		{"spread one node", 1, Spread, 1, 2, [][]int{{0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PlacePods(tt.nodes, tt.placement, tt.services, tt.pods)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("PlacePods(%d, %s, %d, %d) = %v, want %v", tt.nodes, tt.placement, tt.services, tt.pods, got, tt.want)
			}
		})
	}
}

func TestPlacePodsSeedMesh(t *testing.T) {
	placed := PlacePods(3, Spread, 20, 5)
	got := podsPerNode(3, 1, placed)
	if want := []int{35, 33, 33}; !slices.Equal(got, want) {
		t.Errorf("pods per node = %v, want %v", got, want)
	}
}

func TestPlacePodsPanics(t *testing.T) {
	tests := []struct {
		name      string
		nodes     int
		placement string
	}{
		{"unknown placement", 3, "far-away"},
		{"cross-node on one node", 1, CrossNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("PlacePods(%d, %q) did not panic", tt.nodes, tt.placement)
				}
			}()
			PlacePods(tt.nodes, tt.placement, 1, 1)
		})
	}
}
