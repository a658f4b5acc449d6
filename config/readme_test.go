package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The README's configuration table is what operators read: every variable
// must be in it, and every default it gives must be the one the code has.
// (Once it gave admission and group-commit defaults the code never had.)
func TestReadmeTableMatchesTheDefaults(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	envNames(reflect.TypeOf(Config{}), known)

	backticked := regexp.MustCompile("`([^`]*)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "| `HEALTHCODE_") {
			continue
		}
		cells := strings.Split(line, " | ")
		if len(cells) < 3 {
			t.Fatalf("row without a default: %s", line)
		}
		var names []string
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			names = append(names, expandName(m[1], names, known))
		}
		var defaults []string
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			defaults = append(defaults, m[1])
		}
		for i, name := range names {
			if !known[name] {
				t.Errorf("the README documents %s, which no setting reads", name)
				continue
			}
			documented[name] = true
			if len(defaults) != len(names) || strings.ContainsAny(defaults[i], "<> ") {
				continue // "empty", "generated in development", a derived path
			}
			got, err := Load("", func(k string) string {
				if k == name {
					return defaults[i]
				}
				return ""
			})
			if err != nil {
				t.Errorf("%s=%s from the README does not load: %v", name, defaults[i], err)
				continue
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Errorf("the README gives %s the default %q, which is not the code's default", name, defaults[i])
			}
		}
	}
	for name := range known {
		if !documented[name] {
			t.Errorf("%s is missing from the README's configuration table", name)
		}
	}
}

// envNames collects the env tags of t's fields, recursively.
func envNames(t reflect.Type, into map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name := f.Tag.Get("env"); name != "" {
			into[name] = true
		} else if f.Type.Kind() == reflect.Struct {
			envNames(f.Type, into)
		}
	}
}

// expandName turns a short form such as `_MAX_QUEUE`, written after
// `HEALTHCODE_ADMISSION_MAX_IN_FLIGHT`, into the full variable name.
func expandName(name string, before []string, known map[string]bool) string {
	if !strings.HasPrefix(name, "_") || len(before) == 0 {
		return name
	}
	prefix := before[0]
	for {
		cut := strings.LastIndex(prefix, "_")
		if cut < 0 {
			return name
		}
		prefix = prefix[:cut]
		if known[prefix+name] {
			return prefix + name
		}
	}
}
