package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"situ/internal/situtest"
)

// situBin is the situ binary the tests run. TestMain builds it once, with
// the -X version flag the Dockerfile uses.
var situBin string

// testVersion is stamped into situBin through the Dockerfile's -X flag.
const testVersion = "deploy-test-version"

func TestMain(m *testing.M) {
	var ldflags []string
	// Without a -X flag in the Dockerfile the binary is built plainly and
	// TestDockerfileStampsTheVersion fails.
	if df, err := readDockerfile(); err == nil {
		if symbol := df.versionSymbol(); symbol != "" {
			ldflags = []string{"-ldflags", "-X " + symbol + "=" + testVersion}
		}
	}
	var remove func()
	situBin, remove = situtest.BuildTemp("situ-deploy-", ldflags...)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		remove()
		os.Exit(code)
	}))
}

// TestYAMLFilesParse parses every YAML document under deploy/.
func TestYAMLFilesParse(t *testing.T) {
	var files []string
	require.NoError(t, filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return err
	}))
	require.Subset(t, files, []string{"compose.yaml", "kubernetes/kustomization.yaml", "kubernetes/api.yaml", "kubernetes/learner.yaml"})
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			docs := readYAMLDocs(t, file)
			require.NotEmpty(t, docs, "no YAML document")
			for i, doc := range docs {
				var v map[string]any
				require.NoError(t, doc.Decode(&v), "document %d", i+1)
				require.NotEmpty(t, v, "document %d is empty", i+1)
			}
		})
	}
}

// TestContainersUseRealFlags checks every situ process the deployment
// files start: each --flag and SITU_* variable is a flag of situ serve,
// and situ serve accepts the whole command line and environment (it
// parses them, then stops at --help).
func TestContainersUseRealFlags(t *testing.T) {
	flags := serveFlags(t)
	for _, c := range allContainers(t) {
		t.Run(c.where, func(t *testing.T) {
			require.NotEmpty(t, c.args, "no command: the image's CMD is replaced by nothing")
			require.Equal(t, "serve", c.args[0], "the first argument is the subcommand")
			for _, name := range c.flagNames() {
				require.Contains(t, flags, name, "--%s is not a flag of situ serve", name)
			}
			envFlags := make(map[string]bool, len(flags))
			for _, env := range flags {
				envFlags[env] = true
			}
			for name := range c.env {
				if strings.HasPrefix(name, "SITU_") {
					require.True(t, envFlags[name], "%s is not the variable of any flag of situ serve", name)
				}
			}
			for _, name := range c.unresolved {
				require.True(t, !strings.HasPrefix(name, "SITU_") || envFlags[name], "%s is not the variable of any flag of situ serve", name)
			}

			cmd := exec.Command(situBin, append(slices.Clone(c.args), "--help")...)
			cmd.Env = c.situEnv()
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "situ %s --help with %v:\n%s", strings.Join(c.args, " "), cmd.Env, out)
			require.Contains(t, string(out), "Usage: situ serve")
		})
	}
}

// TestRolesAndBrokers checks the process layout of compose and Kubernetes:
// exactly one learner, at least two API replicas, every process with an
// explicit role (the default, all, would be a second learner), and every
// process on the same brokers and partition count.
func TestRolesAndBrokers(t *testing.T) {
	flags := serveFlags(t)
	for _, tc := range []struct {
		name       string
		containers []container
	}{
		{"compose", composeContainers(t)},
		{"kubernetes", kubeContainers(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replicas := map[string]int{}
			shared := map[string]map[string]bool{"kafka-brokers": {}, "partitions": {}}
			for _, c := range tc.containers {
				role, _ := c.setting(flags, "role")
				require.Contains(t, []string{"api", "learner"}, role, "%s: role %q: set api or learner (all would start another learner)", c.where, role)
				replicas[role] += c.replicas
				for name, values := range shared {
					v, ok := c.setting(flags, name)
					require.True(t, ok, "%s: --%s is not set", c.where, name)
					values[v] = true
				}
			}
			require.Equal(t, 1, replicas["learner"], "learner processes")
			require.GreaterOrEqual(t, replicas["api"], 2, "API processes")
			for name, values := range shared {
				require.Len(t, values, 1, "every process needs the same --%s, got %v", name, values)
			}
		})
	}
}

// container is one situ process that a deployment file starts.
type container struct {
	where    string            // file and object, for messages
	args     []string          // arguments after the image's entrypoint (/situ)
	env      map[string]string // environment variables with literal values
	replicas int
	// unresolved names variables whose value comes from elsewhere
	// (valueFrom): their names are checked, their values are not.
	unresolved []string
}

// flagNames returns the names of the flags in the arguments.
func (c container) flagNames() []string {
	var names []string
	for _, a := range c.args {
		if name, ok := strings.CutPrefix(a, "-"); ok {
			name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
			names = append(names, name)
		}
	}
	return names
}

// setting returns the effective value of a flag: the command line wins
// over the environment.
func (c container) setting(flags map[string]string, name string) (string, bool) {
	if value, found := c.arg(name, false); found {
		return value, true
	}
	value, found := c.env[flags[name]]
	return value, found
}

// arg returns the value of the flag name on the command line (the last
// wins): what follows "=", else "true" for a boolean flag, else the next
// argument.
func (c container) arg(name string, boolean bool) (string, bool) {
	value, found := "", false
	for i, a := range c.args {
		n, ok := strings.CutPrefix(a, "-")
		if !ok {
			continue
		}
		n, v, hasValue := strings.Cut(strings.TrimPrefix(n, "-"), "=")
		if n != name {
			continue
		}
		switch {
		case hasValue:
		case boolean:
			v = "true" // a boolean flag takes no separate argument
		case i+1 < len(c.args):
			v = c.args[i+1]
		}
		value, found = v, true
	}
	return value, found
}

// situEnv returns the container's SITU_* variables as os/exec wants them.
func (c container) situEnv() []string {
	env := []string{}
	for k, v := range c.env {
		if strings.HasPrefix(k, "SITU_") {
			env = append(env, k+"="+v)
		}
	}
	slices.Sort(env)
	return env
}

// allContainers returns every situ process of the image, compose and the
// Kubernetes manifests.
func allContainers(t *testing.T) []container {
	t.Helper()
	df, err := readDockerfile()
	require.NoError(t, err)
	out := []container{{where: "Dockerfile", args: df.cmd, env: df.env, replicas: 1}}
	out = append(out, composeContainers(t)...)
	return append(out, kubeContainers(t)...)
}

var (
	serveHelpOnce sync.Once
	serveHelpText string
	serveHelpErr  error
)

// serveFlags returns the flags of situ serve (name → environment
// variable), read from `situ serve --help`.
func serveFlags(t *testing.T) map[string]string {
	t.Helper()
	serveHelpOnce.Do(func() {
		var out []byte
		out, serveHelpErr = exec.Command(situBin, "serve", "--help").CombinedOutput()
		serveHelpText = string(out)
	})
	require.NoError(t, serveHelpErr, serveHelpText)
	flags := parseServeHelp(serveHelpText)
	// The help format changed if these are missing: fix parseServeHelp.
	for name, env := range map[string]string{"addr": "SITU_ADDR", "role": "SITU_ROLE", "kafka-brokers": "SITU_KAFKA_BROKERS"} {
		require.Equal(t, env, flags[name], "situ serve --help:\n%s", serveHelpText)
	}
	return flags
}

// parseServeHelp reads the flags of situ serve from its --help text:
//
//	--addr HOST:PORT
//	    listen address HOST:PORT of the HTTP API
//	    env SITU_ADDR, default 127.0.0.1:8080
func parseServeHelp(help string) map[string]string {
	flags := map[string]string{}
	current := ""
	for _, line := range strings.Split(help, "\n") {
		if rest, ok := strings.CutPrefix(line, "  --"); ok {
			current, _, _ = strings.Cut(rest, " ")
			continue
		}
		if f := strings.Fields(line); current != "" && len(f) >= 2 && f[0] == "env" {
			flags[current] = strings.TrimSuffix(f[1], ",")
			current = ""
		}
	}
	return flags
}

// readYAMLDocs returns the documents of a (multi-document) YAML file.
func readYAMLDocs(t *testing.T, file string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, "%s: document %d", file, len(docs)+1)
		docs = append(docs, &doc)
	}
}

// addrPort returns the port of a HOST:PORT address.
func addrPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err, "address %q", addr)
	n, err := strconv.Atoi(port)
	require.NoError(t, err, "port of %q", addr)
	return n
}
