package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// dockerfile is what the tests read from deploy/Dockerfile.
type dockerfile struct {
	args       map[string]string // ARG defaults
	from       []string          // image of every stage
	env        map[string]string // ENV of the final stage
	expose     []string
	entrypoint []string
	cmd        []string
	health     []string            // HEALTHCHECK CMD
	copied     map[string]string   // destination in the final image → source path in the build stage
	builds     map[string][]string // output path → the go build command, split into fields
	user       string
}

// readDockerfile reads deploy/Dockerfile: continuation lines joined,
// comments dropped, exec-form (JSON) CMD, ENTRYPOINT and HEALTHCHECK.
func readDockerfile() (*dockerfile, error) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		return nil, err
	}
	df := &dockerfile{args: map[string]string{}, env: map[string]string{}, copied: map[string]string{}, builds: map[string][]string{}}
	var lines []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	jsonArray := func(s string) ([]string, error) {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("%q is not the exec (JSON) form: %w", s, err)
		}
		return v, nil
	}
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			if _, seen := df.args[k]; !seen || v != "" {
				df.args[k] = v
			}
		case "FROM":
			f := strings.Fields(rest)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) == 0 {
				return nil, fmt.Errorf("FROM without an image: %q", line)
			}
			df.from = append(df.from, f[0])
			df.env, df.copied, df.user = map[string]string{}, map[string]string{}, ""
		case "ENV":
			k, v, ok := strings.Cut(rest, "=")
			if !ok || strings.ContainsAny(v, ` "'`) {
				return nil, fmt.Errorf("ENV %q: write one KEY=value without quotes per ENV line", rest)
			}
			df.env[k] = v
		case "EXPOSE":
			df.expose = append(df.expose, strings.Fields(rest)...)
		case "USER":
			df.user = rest
		case "COPY":
			f := strings.Fields(rest)
			var from string
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if v, ok := strings.CutPrefix(f[0], "--from="); ok {
					from = v
				}
				f = f[1:]
			}
			if from != "" && len(f) == 2 {
				df.copied[f[1]] = f[0]
			}
		case "RUN":
			for _, cmd := range strings.Split(rest, "&&") {
				f := strings.Fields(cmd)
				if !strings.Contains(cmd, "go build ") {
					continue
				}
				for i := 0; i+1 < len(f); i++ {
					if f[i] == "-o" {
						df.builds[f[i+1]] = f // env assignments, go build, its flags, the package
					}
				}
			}
		case "ENTRYPOINT":
			if df.entrypoint, err = jsonArray(rest); err != nil {
				return nil, fmt.Errorf("ENTRYPOINT: %w", err)
			}
		case "CMD":
			if df.cmd, err = jsonArray(rest); err != nil {
				return nil, fmt.Errorf("CMD: %w", err)
			}
		case "HEALTHCHECK":
			_, probe, ok := strings.Cut(rest, " CMD ")
			if !ok {
				return nil, fmt.Errorf("HEALTHCHECK without CMD: %q", line)
			}
			if df.health, err = jsonArray(strings.TrimSpace(probe)); err != nil {
				return nil, fmt.Errorf("HEALTHCHECK: %w", err)
			}
		}
	}
	return df, nil
}

// buildOf returns the go build command whose output the final image
// copies to dest.
func (df *dockerfile) buildOf(dest string) []string {
	return df.builds[df.copied[dest]]
}

// versionSymbol returns the symbol the build of /situ sets with -X.
func (df *dockerfile) versionSymbol() string {
	m := regexp.MustCompile(`-X ([\w./-]+)=`).FindStringSubmatch(strings.Join(df.buildOf("/situ"), " "))
	if m == nil {
		return ""
	}
	return m[1]
}

// expand replaces ${NAME} and $NAME by the ARG defaults.
func (df *dockerfile) expand(s string) string {
	return os.Expand(s, func(k string) string { return df.args[k] })
}

func TestDockerfile(t *testing.T) {
	df, err := readDockerfile()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(df.from), 2, "a multi-stage build")

	t.Run("the builder's Go matches go.mod", func(t *testing.T) {
		builder := df.expand(df.from[0])
		image, tag, _ := strings.Cut(builder, ":")
		require.Equal(t, "golang", image)
		gomod, err := os.ReadFile("../go.mod")
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
		require.NotNil(t, m, "go directive in go.mod")
		require.True(t, tag == string(m[1]) || strings.HasPrefix(tag, string(m[1])+"."),
			"builder %s: go.mod needs Go %s (golang images do not download another toolchain)", builder, m[1])
	})
	t.Run("the final image is distroless and runs as non-root", func(t *testing.T) {
		final := df.from[len(df.from)-1]
		require.True(t, strings.HasPrefix(final, "gcr.io/distroless/static"), final)
		require.True(t, strings.HasSuffix(final, ":nonroot") || df.user == "65532:65532", "final image %s, USER %q", final, df.user)
	})
	t.Run("ENTRYPOINT is the static situ binary", func(t *testing.T) {
		require.Equal(t, []string{"/situ"}, df.entrypoint)
		build := df.buildOf("/situ")
		require.NotEmpty(t, build, "COPY --from=… <go build -o output> /situ")
		require.Equal(t, "./cmd/situ", build[len(build)-1])
		require.Contains(t, build, "-trimpath")
		require.Contains(t, build, "CGO_ENABLED=0", "static binary for a distroless/static image")
	})
	t.Run("EXPOSE is the port of CMD's --addr", func(t *testing.T) {
		addr := flagValue(df.cmd, "addr")
		require.NotEmpty(t, addr, "CMD sets --addr (the default 127.0.0.1 is unreachable from outside the container)")
		host, _, _ := strings.Cut(addr, ":")
		require.Equal(t, "0.0.0.0", host)
		require.Equal(t, []string{strconv.Itoa(addrPort(t, addr))}, df.expose)
	})
	t.Run("HEALTHCHECK probes /readyz with a binary in the image", func(t *testing.T) {
		require.Len(t, df.health, 2)
		build := df.buildOf(df.health[0])
		require.NotEmpty(t, build, "%s is not built and copied into the image", df.health[0])
		require.DirExists(t, path.Join("..", build[len(build)-1]))
		require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", addrPort(t, flagValue(df.cmd, "addr"))), df.health[1])
	})
}

// TestDockerfileStampsTheVersion checks that the Dockerfile's -X flag
// names the variable situ version prints: TestMain built situBin with it.
func TestDockerfileStampsTheVersion(t *testing.T) {
	df, err := readDockerfile()
	require.NoError(t, err)
	require.NotEmpty(t, df.versionSymbol(), "go build of /situ sets no -X version")
	out, err := exec.Command(situBin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), testVersion, "-X %s=… does not change what situ version prints", df.versionSymbol())
}

// TestDockerIgnoreKeepsTheSources checks that the build context keeps
// every file the image's go build commands compile or embed, and drops
// what it should.
func TestDockerIgnoreKeepsTheSources(t *testing.T) {
	df, err := readDockerfile()
	require.NoError(t, err)
	patterns := readDockerIgnore(t, "Dockerfile.dockerignore")

	pkgs := []string{"go.mod", "go.sum"}
	var built []string
	for _, build := range df.builds {
		built = append(built, "situ/"+strings.TrimPrefix(build[len(build)-1], "./"))
	}
	require.NotEmpty(t, built)
	list := exec.Command("go", append([]string{"list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "situ"}}{{range .GoFiles}}{{$.ImportPath}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.ImportPath}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`},
		built...)...)
	list.Dir = ".."
	out, err := list.Output()
	require.NoError(t, err)
	for _, f := range strings.Fields(string(out)) {
		pkgs = append(pkgs, strings.TrimPrefix(f, "situ/"))
	}
	require.Contains(t, pkgs, "cmd/situ/main.go")
	for _, f := range pkgs {
		require.False(t, dockerIgnored(patterns, f), "%s is needed by the build but Dockerfile.dockerignore drops it", f)
	}
	for _, f := range []string{".git/HEAD", "cmd/situ/.situ/kafka/x", "bin/situ", "situ"} {
		require.True(t, dockerIgnored(patterns, f), "%s should stay out of the build context", f)
	}
}

// readDockerIgnore returns the patterns of a .dockerignore file.
func readDockerIgnore(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	return patterns
}

// dockerIgnored reports whether the .dockerignore patterns drop file (a
// slash-separated path from the context root): the last matching pattern
// decides, "!" re-includes, and a pattern that matches a directory drops
// everything under it.
func dockerIgnored(patterns []string, file string) bool {
	ignored := false
	for _, p := range patterns {
		negate := strings.HasPrefix(p, "!")
		p = path.Clean(strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/"))
		re := regexp.MustCompile("^" + globRegexp(p) + "(/.*)?$")
		if re.MatchString(file) {
			ignored = !negate
		}
	}
	return ignored
}

// globRegexp translates a .dockerignore glob: ** crosses directories, *
// and ? do not.
func globRegexp(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// flagValue returns the value of --name in args ("--name v" or
// "--name=v"; the last one wins), or "".
func flagValue(args []string, name string) string {
	v, _ := container{args: args}.setting(nil, name)
	return v
}
