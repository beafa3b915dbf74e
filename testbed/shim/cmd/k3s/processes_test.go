package main

import (
	"reflect"
	"testing"
)

func TestChildEnvAddsGOGCUnlessSet(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root"}
	got := childEnv(base)
	if want := []string{"PATH=/bin", "HOME=/root", "GOGC=400"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("childEnv(%v) = %v, want %v", base, got, want)
	}
	if len(base) != 2 {
		t.Fatalf("childEnv changed its argument: %v", base)
	}
	set := []string{"GOGC=50", "PATH=/bin"}
	if got := childEnv(set); !reflect.DeepEqual(got, set) {
		t.Fatalf("childEnv(%v) = %v, want it unchanged", set, got)
	}
}
