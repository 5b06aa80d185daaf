package deploy

import (
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"situ/api"
)

// composeFile is the part of deploy/compose.yaml the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"` // short syntax, SOURCE:TARGET[:MODE]
	ReadOnly    bool              `yaml:"read_only"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// isSitu reports whether the service runs the image of deploy/Dockerfile.
func (s composeService) isSitu() bool {
	return s.Build != nil && s.Build.Dockerfile == "deploy/Dockerfile"
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(data, &f), "compose.yaml")
	return f
}

// composeContainers returns the situ services of compose.yaml. A service
// without a command runs the image's CMD.
func composeContainers(t *testing.T) []container {
	t.Helper()
	df, err := readDockerfile()
	require.NoError(t, err)
	var out []container
	for name, s := range readCompose(t).Services {
		if !s.isSitu() {
			continue
		}
		env := map[string]string{}
		for k, v := range df.env {
			env[k] = v
		}
		for k, v := range s.Environment {
			env[k] = v
		}
		args := s.Command
		if args == nil {
			args = df.cmd
		}
		out = append(out, container{where: "compose.yaml service " + name, args: args, env: env, replicas: 1})
	}
	slices.SortFunc(out, func(a, b container) int { return strings.Compare(a.where, b.where) })
	require.NotEmpty(t, out, "compose.yaml runs no service built from deploy/Dockerfile")
	return out
}

// publishedPort splits a short-syntax ports entry, [IP:]HOST:CONTAINER.
func publishedPort(t *testing.T, p string) (ip, host, container string) {
	t.Helper()
	parts := strings.Split(p, ":")
	switch len(parts) {
	case 2:
		return "", parts[0], parts[1]
	case 3:
		return parts[0], parts[1], parts[2]
	}
	require.Failf(t, "ports entry", "%q: [IP:]HOST:CONTAINER", p)
	return "", "", ""
}

// volumeAt returns the source of the service's volume mounted at target
// and whether it is mounted read-only.
func (s composeService) volumeAt(target string) (source string, readOnly, found bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Clean(parts[1]) == path.Clean(target) {
			return parts[0], len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro"), true
		}
	}
	return "", false, false
}

// TestCompose checks how compose.yaml wires the situ services: to a broker
// service that is healthy first, with a health check on /readyz run by a
// binary the image has, a read-only root, and distinct host ports.
func TestCompose(t *testing.T) {
	flags := serveFlags(t)
	df, err := readDockerfile()
	require.NoError(t, err)
	f := readCompose(t)
	hostPorts := map[string]string{}
	for _, c := range composeContainers(t) {
		name := strings.TrimPrefix(c.where, "compose.yaml service ")
		s := f.Services[name]
		t.Run(name, func(t *testing.T) {
			require.Equal(t, "..", s.Build.Context, "the build context is the repository root")
			require.True(t, s.ReadOnly, "read_only: api and learner write nothing to disk")

			brokers, _ := c.setting(flags, "kafka-brokers")
			require.NotEmpty(t, brokers, "api and learner need --kafka-brokers")
			for _, b := range strings.Split(brokers, ",") {
				host, _, err := net.SplitHostPort(b)
				require.NoError(t, err, "broker %q", b)
				require.Contains(t, f.Services, host, "broker %s is not a compose service", b)
				require.Equal(t, "service_healthy", s.DependsOn[host].Condition, "start after %s is healthy", host)
			}

			addr, _ := c.setting(flags, "addr")
			port := addrPort(t, addr)
			require.NotEmpty(t, s.Ports, "a published port")
			for _, p := range s.Ports {
				_, host, inner := publishedPort(t, p)
				require.Equal(t, strconv.Itoa(port), inner, "ports %q: the container listens on --addr %s", p, addr)
				if other, dup := hostPorts[host]; dup {
					require.Failf(t, "host port used twice", "%s and %s both publish %s", other, name, host)
				}
				hostPorts[host] = name
			}

			require.NotNil(t, s.Healthcheck, "a health check")
			test := s.Healthcheck.Test
			require.Len(t, test, 3, "healthcheck test: [CMD, probe, URL]")
			require.Equal(t, "CMD", test[0], "exec form: the image has no shell")
			require.NotEmpty(t, df.buildOf(test[1]), "%s is not in the image", test[1])
			u, err := url.Parse(test[2])
			require.NoError(t, err)
			require.Equal(t, "/readyz", u.Path)
			require.Equal(t, strconv.Itoa(port), u.Port())
		})
	}
	require.Len(t, hostPorts, 3, "the learner and two API replicas each publish a port: %v", hostPorts)
}

// TestComposeAccess checks what compose.yaml does about access: each API
// replica starts (api.CheckScoreExposure passes: its score routes are open
// only by --allow-open-score), every port is published on 127.0.0.1 only
// (the score routes and Kafka then take no credentials from this machine
// alone), and the replicas that generate their keys do so in one named
// volume at their data dir, so that they share the admin token and the
// customer-id key.
func TestComposeAccess(t *testing.T) {
	flags := serveFlags(t)
	f := readCompose(t)
	for name, s := range f.Services {
		for _, p := range s.Ports {
			ip, _, _ := publishedPort(t, p)
			require.Equal(t, "127.0.0.1", ip, "service %s, ports %q: publish on 127.0.0.1 only; the score routes and Kafka take no token here", name, p)
		}
	}
	keyVolumes := map[string]bool{}
	for _, c := range composeContainers(t) {
		name := strings.TrimPrefix(c.where, "compose.yaml service ")
		s := f.Services[name]
		role, _ := c.setting(flags, "role")
		if !readsSecretFlags(role) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, auth := c.setting(flags, "auth-file")
			require.False(t, auth, "--auth-file: compose has no tokens file; it relies on 127.0.0.1 and --allow-open-score")
			checkScoreExposure(t, c, api.Tokens{})

			_, key := c.setting(flags, "customer-key-file")
			require.False(t, key, "--customer-key-file: compose has no key file; the replicas generate one in their data dir")
			dir, ok := c.setting(flags, "data-dir")
			require.True(t, ok, "--data-dir (SITU_DATA_DIR) is not set")
			source, readOnly, found := s.volumeAt(dir)
			require.True(t, found, "no volume at the data dir %s: on a read-only root the replica has no admin token and writes decision events without context", dir)
			require.False(t, readOnly, "the volume at %s must be writable: the first replica creates the keys in it", dir)
			require.NotContains(t, source, "/", "volume %s: a named volume, which starts as a copy of the image's /data (owned by situ's uid)", source)
			require.Contains(t, f.Volumes, source, "volume %s is not declared under volumes:", source)
			keyVolumes[source] = true
		})
	}
	require.Len(t, keyVolumes, 1, "every API replica must mount the same volume at its data dir (one customer-id key), got %v", keyVolumes)
}
