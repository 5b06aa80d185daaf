// Package shareddata finds the reference data other projects publish
// (GrowthBook's assignment cases and statistics vectors, logged bandit
// data) that tests compare situ against. The data is not in the
// repository: it lies in shared/data beside the repository root.
package shareddata

import (
	"os"
	"path/filepath"
)

// Find returns the path of rel (a slash-separated path below shared/data,
// e.g. "growthbook/cases.json") beside the directory from, or beside any
// directory above it (a git worktree kept in a folder of its own), or ""
// when there is none.
func Find(from, rel string) string {
	dir, err := filepath.Abs(from)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "data", filepath.FromSlash(rel))
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
