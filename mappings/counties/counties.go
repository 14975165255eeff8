// Package counties embeds the county mapping packs shipped with hpgate
// (mappings/counties/<code>-<name>/), so `hpgate demo` and the tests can use
// them without the source tree. The packs themselves are pure data: mapping
// files, code-table CSVs and a README each.
package counties

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed 360730-ningdu 370282-jimo 421221-jiayu
var packs embed.FS

// FS returns the packs, one directory each.
func FS() fs.FS { return packs }

// Names lists the packs, e.g. "370282-jimo".
func Names() []string {
	entries, _ := fs.ReadDir(packs, ".")
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// Extract writes one pack to dir/<name> and returns that path, for code
// that reads mapping files from disk.
func Extract(name, dir string) (string, error) {
	sub, err := fs.Sub(packs, name)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, name)
	if err := os.CopyFS(dst, sub); err != nil {
		return "", err
	}
	return dst, nil
}
