package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeWalks keeps the README's "Life of a request" true to the
// code: each walk names at most four files, one per numbered step, every
// file exists, and every identifier a step names in backticks is in its
// file, so a walk cannot drift to files that moved or grew.
func TestReadmeWalks(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "## Life of a request")
	if start < 0 {
		t.Fatal("README has no \"Life of a request\"")
	}
	section := text[start+3:]
	section = section[:strings.Index(section, "\n## ")]
	head := regexp.MustCompile("(?m)^`(GET|POST|PUT|PATCH|DELETE) [^`]+`.*, four files:$")
	step := regexp.MustCompile(`^(\d+)\. ` + "`([^`]+)`")
	ident := regexp.MustCompile("^[A-Za-z_][A-Za-z0-9_]*$")
	numbered := regexp.MustCompile(`^\d+\. `)
	walks := head.FindAllStringIndex(section, -1)
	if len(walks) < 3 {
		t.Fatalf("%d walks of four files, want the three (update_name, a document upload, new-login)", len(walks))
	}
	for i, w := range walks {
		end := len(section)
		if i+1 < len(walks) {
			end = walks[i+1][0]
		}
		title := strings.TrimSuffix(section[w[0]:w[1]], ", four files:")
		body := section[w[1]:end]
		if j := strings.Index(body, "\n\n"); j >= 0 {
			body = body[:j]
		}
		var steps []string
		for _, line := range strings.Split(body, "\n") {
			if numbered.MatchString(line) {
				steps = append(steps, line)
			} else if len(steps) > 0 {
				steps[len(steps)-1] += " " + strings.TrimSpace(line)
			}
		}
		if len(steps) == 0 || len(steps) > 4 {
			t.Errorf("%s: %d steps, want 1 to 4", title, len(steps))
		}
		for _, s := range steps {
			m := step.FindStringSubmatch(s)
			if m == nil || !strings.HasSuffix(m[2], ".go") {
				t.Errorf("%s: step %q does not start with its file", title, s)
				continue
			}
			src, err := os.ReadFile(filepath.Join(root, m[2]))
			if err != nil {
				t.Errorf("%s: %v", title, err)
				continue
			}
			for _, tick := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(s, -1)[1:] {
				if _, err := os.Stat(filepath.Join(root, "pkg", tick[1])); err == nil {
					continue // a package of pkg/, named for what it does there
				}
				if ident.MatchString(tick[1]) && !regexp.MustCompile(`\b`+tick[1]+`\b`).Match(src) {
					t.Errorf("%s: step %s names %s, which is not in that file", title, m[1], tick[1])
				}
			}
		}
	}
}
