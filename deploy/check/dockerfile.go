package check

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Instruction is one Dockerfile instruction with its continuation lines
// joined.
type Instruction struct {
	Cmd   string   // upper case: FROM, RUN, ARG...
	Flags []string // leading --flags (RUN --mount=..., COPY --from=...)
	Args  string
	Line  int
}

// Stage is one FROM and what follows it.
type Stage struct {
	Name, From   string
	Instructions []Instruction
}

// ParseDockerfile reads the subset of the format our Dockerfiles use:
// comments, `\` continuations, flags before the arguments. Heredocs and
// parser directives other than syntax are refused, so a change that needs
// a real parser is noticed.
func ParseDockerfile(path string) ([]Stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stages []Stage
	var cur strings.Builder
	start, n := 0, 0
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		if strings.Contains(text, "<<") {
			return fmt.Errorf("%s:%d: heredocs are not supported by this check", path, start)
		}
		cmd, rest, _ := strings.Cut(text, " ")
		in := Instruction{Cmd: strings.ToUpper(cmd), Line: start}
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			flag, more, _ := strings.Cut(rest, " ")
			in.Flags = append(in.Flags, flag)
			rest = strings.TrimSpace(more)
		}
		in.Args = rest
		if in.Cmd == "FROM" {
			from, name, _ := strings.Cut(rest, " AS ")
			if !strings.Contains(rest, " AS ") {
				from, name, _ = strings.Cut(rest, " as ")
			}
			stages = append(stages, Stage{Name: strings.TrimSpace(name), From: strings.TrimSpace(from)})
			return nil
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				return nil // a global ARG; ours are declared in the stages
			}
			return fmt.Errorf("%s:%d: %s before FROM", path, start, in.Cmd)
		}
		s := &stages[len(stages)-1]
		s.Instructions = append(s.Instructions, in)
		return nil
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments, also between continuation lines
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return stages, nil
}

// namesRegistryHost: the image reference starts with a registry host
// (a first path part with a dot or port, or localhost); ours use bare names.
func namesRegistryHost(image string) bool {
	first, _, nested := strings.Cut(image, "/")
	return nested && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// StageNamed returns the stage named name.
func StageNamed(stages []Stage, name string) (Stage, bool) {
	for _, s := range stages {
		if s.Name == name {
			return s, true
		}
	}
	return Stage{}, false
}
