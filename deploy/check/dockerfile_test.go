package check

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileBuilds runs, for every service docker-compose.yml builds,
// the very `go build` commands of its Dockerfile (read from the file, with
// the ARGs compose passes), as the image build would in its /src; then it
// checks that the binaries are static and built as asked, and that the
// final stage is a non-root scratch image running them.
func TestDockerfileBuilds(t *testing.T) {
	p, root := loadCompose(t, nil)
	for _, name := range sortedNames(p) {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			stages, err := ParseDockerfile(filepath.Join(s.Build.Context, s.Build.Dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range stages {
				if namesRegistryHost(st.From) {
					t.Errorf("FROM %s names a registry host; use the bare name", st.From)
				}
			}
			build, ok := StageNamed(stages, "build")
			if !ok {
				t.Fatal("no stage named build")
			}
			args := map[string]string{}
			var env []string
			workdir := ""
			var runs []Instruction
			for _, in := range build.Instructions {
				switch in.Cmd {
				case "ARG":
					k, v, _ := strings.Cut(in.Args, "=")
					args[k] = v
				case "ENV":
					env = append(env, in.Args)
				case "WORKDIR":
					workdir = in.Args
				case "COPY":
					// The build context (the repository root) lands in WORKDIR,
					// so the repository root stands for it here.
					if in.Args != ". ." || workdir != "/src" {
						t.Fatalf("line %d: the check expects `COPY . .` into WORKDIR /src, found COPY %s in %q", in.Line, in.Args, workdir)
					}
				case "RUN":
					if strings.Contains(in.Args, "go build") {
						runs = append(runs, in)
					}
				}
			}
			for k, v := range s.Build.Args {
				if _, declared := args[k]; !declared {
					t.Errorf("compose passes build arg %s, which the build stage does not declare", k)
				}
				if v != nil {
					args[k] = *v
				}
			}
			if len(runs) == 0 {
				t.Fatal("the build stage runs no go build")
			}
			svc := args["SERVICE"]
			if _, err := os.Stat(filepath.Join(root, "services", svc)); err != nil {
				t.Skipf("services/%s is not in this tree yet; built once it is", svc)
			}
			out := t.TempDir()
			for _, in := range runs {
				checkStampedVars(t, root, in.Args)
				cmd := exec.Command("sh", "-c", strings.ReplaceAll(in.Args, "/out/", out+"/"))
				cmd.Dir = root
				cmd.Env = append(os.Environ(), env...)
				for k, v := range args {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("Dockerfile line %d fails for %s: %v\n%s", in.Line, svc, err, stderr.String())
				}
			}
			for _, bin := range []string{"service", "probe"} {
				checkStatic(t, filepath.Join(out, bin))
			}
			checkFinalStage(t, stages[len(stages)-1])
		})
	}
}

var stamp = regexp.MustCompile(`-X (github\.com/dossapp/backend/[^ .=]+(?:/[^ .=]+)*)\.([A-Za-z_][A-Za-z0-9_]*)=`)

// checkStampedVars: every variable a -X flag sets is a package-level var
// of that package; the linker ignores a name that does not exist, so a
// rename would silently lose the version.
func checkStampedVars(t *testing.T, root, cmd string) {
	t.Helper()
	for _, m := range stamp.FindAllStringSubmatch(cmd, -1) {
		dir := filepath.Join(root, strings.TrimPrefix(m[1], "github.com/dossapp/backend/"))
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			t.Fatalf("-X %s.%s: %v", m[1], m[2], err)
		}
		found := false
		for _, p := range pkgs {
			for _, f := range p.Files {
				found = found || f.Scope.Lookup(m[2]) != nil && f.Scope.Lookup(m[2]).Kind == ast.Var
			}
		}
		if !found {
			t.Errorf("-X %s.%s: no such package-level variable", m[1], m[2])
		}
	}
}

// checkStatic: no dynamic loader, cgo off, -trimpath on.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked", filepath.Base(path))
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("%s built with CGO_ENABLED=%q -trimpath=%q", filepath.Base(path), settings["CGO_ENABLED"], settings["-trimpath"])
	}
}

func checkFinalStage(t *testing.T, final Stage) {
	t.Helper()
	if final.From != "scratch" {
		t.Errorf("final stage FROM %s; want scratch", final.From)
	}
	user, entry := "", ""
	copied := map[string]bool{}
	for _, in := range final.Instructions {
		switch in.Cmd {
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entry = in.Args
		case "COPY":
			if f := strings.Fields(in.Args); len(f) == 2 {
				copied[f[1]] = true
			}
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("final stage runs as %q; want a non-root user", user)
	}
	if entry != `["/service"]` || !copied["/service"] || !copied["/probe"] {
		t.Errorf("final stage: ENTRYPOINT %s, copies %v; want /service as entry point and /probe for health checks", entry, copied)
	}
}
