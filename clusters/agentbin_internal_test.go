package clusters

import (
	"runtime/debug"
	"testing"
)

func TestSameBuildInfo(t *testing.T) {
	info := func(goVersion, version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: goVersion, Main: debug.Module{Version: version}}
		for i := 0; i < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	stamped := func(stamp string) *debug.BuildInfo {
		return info("go1.26.8", "(devel)", "-ldflags", "-X github.com/meshbench/meshbench/app.commit=abc -X github.com/meshbench/meshbench/"+buildStampFlag+stamp,
			"vcs.revision", "abc", "vcs.modified", "true")
	}
	clean := func(rev string) *debug.BuildInfo {
		return info("go1.26.8", "(devel)", "vcs.revision", rev, "vcs.modified", "false")
	}
	dirty := info("go1.26.8", "(devel)", "vcs.revision", "abc", "vcs.modified", "true")
	for _, tt := range []struct {
		name string
		a, b *debug.BuildInfo
		want bool
	}{
		{"one make build", stamped("1"), stamped("1"), true},
		{"an agent of an earlier make build", stamped("1"), stamped("2"), false},
		{"a stamped and an unstamped build", stamped("1"), dirty, false},
		{"one clean revision", clean("abc"), clean("abc"), true},
		{"two revisions", clean("abc"), clean("def"), false},
		{"a modified checkout, built twice", dirty, dirty, false},
		{"no build information", info("go1.26.8", "(devel)"), info("go1.26.8", "(devel)"), false},
		{"one released version", info("go1.26.8", "v1.2.0"), info("go1.26.8", "v1.2.0"), true},
		{"two released versions", info("go1.26.8", "v1.2.0"), info("go1.26.8", "v1.1.0"), false},
		{"two Go versions", info("go1.26.8", "v1.2.0"), info("go1.27.3", "v1.2.0"), false},
	} {
		if got := sameBuildInfo(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: sameBuildInfo = %t, want %t", tt.name, got, tt.want)
		}
	}
}
