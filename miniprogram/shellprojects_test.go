package miniprogram_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"healthcode/models"
	"healthcode/models/document"
)

// shellProject describes one mini-program shell as its vendor's tool
// opens it.
type shellProject struct {
	dir           string
	projectConfig string
	template      string // page markup extension
	style         string // page style extension
	events        *regexp.Regexp
	foreign       string // an attribute prefix of the other platform
}

var shellProjects = []shellProject{
	{dir: "wechat-app", projectConfig: "project.config.json", template: ".wxml", style: ".wxss",
		events: regexp.MustCompile(`\bbind(?:tap|input|change)="(\w+)"`), foreign: "a:"},
	{dir: "alipay-app", projectConfig: "mini.project.json", template: ".axml", style: ".acss",
		events: regexp.MustCompile(`\bon(?:Tap|Input|Change)="(\w+)"`), foreign: "wx:"},
}

// sharedShellFiles are written once and kept identical in both shells
// (each project must be complete on its own, so each holds a copy).
var sharedShellFiles = []string{"api.js", "catalog.js", "elder.js", "errors.js", "features.js", "pagekit.js", "session.js", "shell.js", "time.js", "views.js"}

func readJSONFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s is not a JSON object: %v", path, err)
	}
	return v
}

// TestShellProjectsAreComplete checks what the vendor tools need to open
// each shell: the project configuration, app.json listing pages that each
// have their four files and a valid JSON configuration, the one config.js,
// and in every page template only handlers the page defines and no button
// without one.
func TestShellProjectsAreComplete(t *testing.T) {
	for _, p := range shellProjects {
		t.Run(p.dir, func(t *testing.T) {
			for _, f := range []string{"app.js", "config.js", "app" + p.style} {
				if _, err := os.Stat(filepath.Join(p.dir, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
			project := readJSONFile(t, filepath.Join(p.dir, p.projectConfig))
			switch p.projectConfig {
			case "project.config.json":
				if project["compileType"] != "miniprogram" || project["appid"] == "" || project["appid"] == nil || project["libVersion"] == nil {
					t.Errorf("project.config.json needs compileType miniprogram, appid and libVersion: %v", project)
				}
			case "mini.project.json":
				if project["format"] != float64(2) || project["compileType"] != "mini" {
					t.Errorf("mini.project.json needs format 2 and compileType mini: %v", project)
				}
			}
			app := readJSONFile(t, filepath.Join(p.dir, "app.json"))
			if _, ok := app["window"].(map[string]any); !ok {
				t.Error("app.json has no window")
			}
			if loc, ok := app["sitemapLocation"].(string); ok {
				readJSONFile(t, filepath.Join(p.dir, loc))
			}
			list, _ := app["pages"].([]any)
			if len(list) == 0 {
				t.Fatal("app.json lists no pages")
			}
			listed := map[string]bool{}
			for _, v := range list {
				page, ok := v.(string)
				if !ok || page == "" || listed[page] {
					t.Errorf("app.json pages: bad or repeated entry %v", v)
					continue
				}
				listed[page] = true
				checkShellPage(t, p, page)
			}
			// Nothing under pages/ that app.json does not list.
			filepath.WalkDir(filepath.Join(p.dir, "pages"), func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(p.dir, path)
				page := strings.TrimSuffix(filepath.ToSlash(rel), filepath.Ext(rel))
				if !listed[page] {
					t.Errorf("%s belongs to no page in app.json", rel)
				}
				return nil
			})
			config, err := os.ReadFile(filepath.Join(p.dir, "config.js"))
			if err != nil || !regexp.MustCompile(`baseURL: 'https://[^'/]+'`).Match(config) {
				t.Errorf("config.js must set baseURL to an https origin: %s", config)
			}
		})
	}
}

func checkShellPage(t *testing.T, p shellProject, page string) {
	t.Helper()
	base := filepath.Join(p.dir, filepath.FromSlash(page))
	for _, ext := range []string{".js", ".json", p.template, p.style} {
		if _, err := os.Stat(base + ext); err != nil {
			t.Errorf("page %s: %v", page, err)
		}
	}
	config := readJSONFile(t, base+".json")
	if p.template == ".wxml" {
		// Pages built with Component() must say so.
		if _, ok := config["usingComponents"].(map[string]any); !ok {
			t.Errorf("%s.json: a page built with Component() needs usingComponents", page)
		}
	}
	markup, err := os.ReadFile(base + p.template)
	if err != nil {
		return
	}
	script, _ := os.ReadFile(base + ".js")
	for _, m := range p.events.FindAllSubmatch(markup, -1) {
		if !regexp.MustCompile(`(?m)^\s+(async )?` + string(m[1]) + `\(`).Match(script) {
			t.Errorf("%s%s names %s, which %s.js does not define", page, p.template, m[1], page)
		}
	}
	for _, button := range regexp.MustCompile(`<button[^>]*>`).FindAll(markup, -1) {
		if !p.events.Match(button) {
			t.Errorf("%s%s: a button that does nothing: %s", page, p.template, button)
		}
	}
	if bytes.Contains(markup, []byte(p.foreign)) {
		t.Errorf("%s%s uses the other platform's %s attributes", page, p.template, p.foreign)
	}
}

// TestShellSharedModulesAreTheSame keeps the modules written once for both
// shells identical, so a fix reaches both.
func TestShellSharedModulesAreTheSame(t *testing.T) {
	for _, f := range sharedShellFiles {
		a, errA := os.ReadFile(filepath.Join("wechat-app", "lib", f))
		b, errB := os.ReadFile(filepath.Join("alipay-app", "lib", f))
		if errA != nil || errB != nil {
			t.Errorf("lib/%s: %v %v", f, errA, errB)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("lib/%s differs between wechat-app and alipay-app", f)
		}
	}
}

// TestShellCatalogIsTheServers holds the shells' document types to the
// server's list (document.Types, in order) and their relations to the
// ones the server accepts.
func TestShellCatalogIsTheServers(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("wechat-app", "lib", "catalog.js"))
	if err != nil {
		t.Fatal(err)
	}
	list := func(name string) []string {
		block := regexp.MustCompile(`(?s)const ` + name + ` = \[(.*?)\n\]`).FindSubmatch(src)
		if block == nil {
			t.Fatalf("catalog.js has no %s list", name)
		}
		var out []string
		for _, m := range regexp.MustCompile(`value: '(\w+)', label: '[^']+'`).FindAllSubmatch(block[1], -1) {
			out = append(out, string(m[1]))
		}
		return out
	}
	var server []string
	for _, d := range document.Types {
		server = append(server, string(d))
	}
	if got := list("docTypes"); !slices.Equal(got, server) {
		t.Errorf("catalog.js docTypes = %v, want the server's %v", got, server)
	}
	relations := list("relations")
	if len(relations) == 0 {
		t.Fatal("catalog.js lists no relations")
	}
	for _, r := range relations {
		if !models.ValidRelation(r) {
			t.Errorf("catalog.js relation %q is not one the server accepts", r)
		}
	}
}
