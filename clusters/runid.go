package clusters

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
)

// NewRunID returns a fresh run id: 8 lowercase hex characters. A run gives
// each case's cluster the run id followed by the case index.
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// runIDFormat is the form of the run ids NewRunID mints.
var runIDFormat = regexp.MustCompile(`^[0-9a-f]{8}$`)

// ValidRunID reports whether id has the form of the run ids NewRunID
// mints, as a user names one to clean up.
func ValidRunID(id string) bool { return runIDFormat.MatchString(id) }

// ClusterOfRun reports whether clusterID is the id of a cluster of the run
// runID: the run's id followed by the case index, or the run's id alone.
// Every run id has the same length, so no cluster of one run is another's.
func ClusterOfRun(clusterID, runID string) bool {
	rest, ok := strings.CutPrefix(clusterID, runID)
	return ok && ValidRunID(runID) && strings.Trim(rest, "0123456789") == ""
}
