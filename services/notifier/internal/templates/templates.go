// Package templates renders the notifier's messages from text templates
// embedded per locale; a locale without the template falls back to English.
package templates

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

//go:embed */*.tmpl
var files embed.FS

// DefaultLocale is used when the asked locale lacks a template.
const DefaultLocale = "en"

// ErrUnknown means no locale has the template.
var ErrUnknown = errors.New("unknown template")

// Set is every template of every locale, parsed once.
type Set struct{ byKey map[string]*template.Template }

// Load parses the embedded templates.
func Load() (*Set, error) {
	s := &Set{byKey: map[string]*template.Template{}}
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		t, err := template.New(path).Option("missingkey=zero").ParseFS(files, path)
		if err != nil {
			return err
		}
		s.byKey[strings.TrimSuffix(path, ".tmpl")] = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	return s, nil
}

// Render returns subject and body of name in locale for channel. Each file
// defines "subject" and "body", and may define "short" for SMS and push,
// where a long mail body does not fit.
func (s *Set) Render(name, locale, channel string, data map[string]string) (subject, body string, err error) {
	t := s.lookup(name, locale)
	if t == nil {
		return "", "", fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	part := "body"
	if channel != "email" && t.Lookup("short") != nil {
		part = "short"
	}
	if subject, err = exec(t, "subject", data); err != nil {
		return "", "", err
	}
	if body, err = exec(t, part, data); err != nil {
		return "", "", err
	}
	return subject, body, nil
}

func (s *Set) lookup(name, locale string) *template.Template {
	locale = strings.ToLower(locale)
	for _, l := range []string{locale, strings.SplitN(locale, "-", 2)[0], DefaultLocale} {
		if t := s.byKey[l+"/"+name]; t != nil {
			return t
		}
	}
	return nil
}

func exec(t *template.Template, name string, data map[string]string) (string, error) {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("template %s/%s: %w", t.Name(), name, err)
	}
	return strings.TrimSpace(b.String()), nil
}
