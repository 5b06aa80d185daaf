package deploy

import (
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// composeFile is the part of deploy/compose.yaml the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
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
				host, inner, ok := strings.Cut(p, ":")
				require.True(t, ok, "ports entry %q: HOST:CONTAINER", p)
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
