package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"situ/policy"
)

const kubeDir = "kubernetes"

// optionalManifests are manifests in kubernetes/ that kustomization.yaml
// leaves out on purpose (docs/deploy.md says when to apply them).
var optionalManifests = []string{"servicemonitor.yaml", secretTemplates}

// secretTemplates holds the templates of the Secrets the pods mount, with
// placeholder values: they are created by hand (kubectl create secret), so
// kustomization.yaml does not list it.
const secretTemplates = "secrets.example.yaml"

type kustomization struct {
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name     string   `yaml:"name"`
		Files    []string `yaml:"files"`
		Literals []string `yaml:"literals"`
	} `yaml:"configMapGenerator"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// matches reports whether the selector selects a pod with these labels.
func (s labelSelector) matches(labels map[string]string) bool {
	return len(s.MatchLabels) > 0 && selects(s.MatchLabels, labels)
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

type deployment struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func (d deployment) replicas() int {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

type podSpec struct {
	SecurityContext *securityContext `yaml:"securityContext"`
	Containers      []kubeContainer  `yaml:"containers"`
	Volumes         []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		EmptyDir *struct {
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode *int   `yaml:"defaultMode"`
			Items       []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	FSGroup                  *int  `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type kubeContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string     `yaml:"name"`
		Value     string     `yaml:"value"`
		ValueFrom *yaml.Node `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `yaml:"name"`
		} `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *kubeProbe `yaml:"readinessProbe"`
	LivenessProbe  *kubeProbe `yaml:"livenessProbe"`
	StartupProbe   *kubeProbe `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		SubPath   string `yaml:"subPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type kubeProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

// port resolves a port number or name to the container's port number (0:
// not found).
func (c kubeContainer) port(p string) int {
	for _, cp := range c.Ports {
		if cp.Name == p || strconv.Itoa(cp.ContainerPort) == p {
			return cp.ContainerPort
		}
	}
	return 0
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"` // a number or a port name
}

type podDisruptionBudget struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Selector       labelSelector `yaml:"selector"`
		MaxUnavailable *int          `yaml:"maxUnavailable"`
		MinAvailable   *int          `yaml:"minAvailable"`
	} `yaml:"spec"`
}

type persistentVolumeClaim struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
	} `yaml:"spec"`
}

type serviceMonitor struct {
	Spec struct {
		Selector  labelSelector `yaml:"selector"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

// manifests are the objects kustomization.yaml builds.
type manifests struct {
	kustomization kustomization
	deployments   []deployment
	services      []service
	pdbs          []podDisruptionBudget
	claims        []persistentVolumeClaim
	// configMaps holds the data of the generated ConfigMaps by name.
	configMaps map[string]map[string]string
}

// readManifests reads kustomization.yaml, its resources and its generated
// ConfigMaps. Objects of other kinds fail the test: add them here.
func readManifests(t *testing.T) manifests {
	t.Helper()
	var m manifests
	data, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &m.kustomization))
	require.NotEmpty(t, m.kustomization.Resources)

	m.configMaps = map[string]map[string]string{}
	for _, g := range m.kustomization.ConfigMapGenerator {
		cm := map[string]string{}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				key, file = path.Base(f), f
			}
			data, err := os.ReadFile(filepath.Join(kubeDir, file))
			require.NoError(t, err, "ConfigMap %s", g.Name)
			cm[key] = string(data)
		}
		for _, l := range g.Literals {
			k, v, ok := strings.Cut(l, "=")
			require.True(t, ok, "ConfigMap %s: literal %q is not KEY=value", g.Name, l)
			cm[k] = v
		}
		m.configMaps[g.Name] = cm
	}

	for _, file := range m.kustomization.Resources {
		for i, doc := range readYAMLDocs(t, filepath.Join(kubeDir, file)) {
			var head struct {
				Kind string `yaml:"kind"`
			}
			require.NoError(t, doc.Decode(&head))
			switch head.Kind {
			case "Deployment":
				var d deployment
				require.NoError(t, doc.Decode(&d))
				m.deployments = append(m.deployments, d)
			case "Service":
				var s service
				require.NoError(t, doc.Decode(&s))
				m.services = append(m.services, s)
			case "PersistentVolumeClaim":
				var c persistentVolumeClaim
				require.NoError(t, doc.Decode(&c))
				m.claims = append(m.claims, c)
			case "PodDisruptionBudget":
				var p podDisruptionBudget
				require.NoError(t, doc.Decode(&p))
				m.pdbs = append(m.pdbs, p)
			default:
				require.Failf(t, "unknown kind", "%s document %d: kind %q is not checked by kubernetes_test.go", file, i+1, head.Kind)
			}
		}
	}
	return m
}

// containers returns the situ container of every Deployment (the i-th
// of m.deployments), with the environment its env and envFrom give it.
func (m manifests) containers(t *testing.T) []container {
	t.Helper()
	df, err := readDockerfile()
	require.NoError(t, err)
	var out []container
	for _, d := range m.deployments {
		require.Len(t, d.Spec.Template.Spec.Containers, 1, "Deployment %s: one container, situ", d.Metadata.Name)
		for _, kc := range d.Spec.Template.Spec.Containers {
			c := container{where: "Deployment " + d.Metadata.Name + " container " + kc.Name, env: map[string]string{}, replicas: d.replicas()}
			for k, v := range df.env {
				c.env[k] = v
			}
			for _, ef := range kc.EnvFrom {
				require.NotNil(t, ef.ConfigMapRef, "%s: envFrom other than configMapRef", c.where)
				cm, ok := m.configMaps[ef.ConfigMapRef.Name]
				require.True(t, ok, "%s: envFrom ConfigMap %s is not generated by kustomization.yaml", c.where, ef.ConfigMapRef.Name)
				for k, v := range cm {
					c.env[k] = v
				}
			}
			for _, e := range kc.Env {
				if e.ValueFrom != nil {
					c.unresolved = append(c.unresolved, e.Name)
					delete(c.env, e.Name)
					continue
				}
				c.env[e.Name] = e.Value
			}
			switch {
			case len(kc.Command) == 0 && len(kc.Args) == 0:
				c.args = df.cmd
			case len(kc.Command) == 0:
				c.args = kc.Args
			default:
				require.Equal(t, df.entrypoint, kc.Command[:1], "%s: command must start with the image's entrypoint", c.where)
				c.args = append(slices.Clone(kc.Command[1:]), kc.Args...)
			}
			out = append(out, c)
		}
	}
	require.NotEmpty(t, out, "no Deployment in kustomization.yaml")
	return out
}

func kubeContainers(t *testing.T) []container {
	t.Helper()
	return readManifests(t).containers(t)
}

// deploymentOfRole returns the Deployment whose situ container runs role.
func (m manifests) deploymentOfRole(t *testing.T, role string) deployment {
	t.Helper()
	flags := serveFlags(t)
	var found []deployment
	for i, c := range m.containers(t) {
		if r, _ := c.setting(flags, "role"); r == role {
			found = append(found, m.deployments[i])
		}
	}
	require.Len(t, found, 1, "Deployments of role %s", role)
	return found[0]
}

// TestKubernetesLearnerIsSingle: one learner pod, and a rollout stops the
// old learner before it starts the new one.
func TestKubernetesLearnerIsSingle(t *testing.T) {
	d := readManifests(t).deploymentOfRole(t, "learner")
	require.Equal(t, 1, d.replicas(), "learner replicas")
	require.Equal(t, "Recreate", d.Spec.Strategy.Type, "learner strategy: RollingUpdate would run two learners during a rollout")
}

// TestKubernetesLearnerStateDir: the learner's --learner-state-dir, where
// it keeps its join snapshot, is a writable volume of its own (the root
// filesystem is read-only), and GOMEMLIMIT leaves room under the memory
// limit for the pending decisions kept outside the Go heap.
func TestKubernetesLearnerStateDir(t *testing.T) {
	flags := serveFlags(t)
	m := readManifests(t)
	for i, c := range m.containers(t) {
		if r, _ := c.setting(flags, "role"); r != "learner" {
			continue
		}
		dir, ok := c.setting(flags, "learner-state-dir")
		require.True(t, ok, "--learner-state-dir is not set: every restart reads the topics again")
		pod := m.deployments[i].Spec.Template.Spec
		var volume string
		for _, vm := range pod.Containers[0].VolumeMounts {
			if strings.TrimSuffix(vm.MountPath, "/") == strings.TrimSuffix(dir, "/") {
				require.False(t, vm.ReadOnly, "the state dir is mounted read-only")
				volume = vm.Name
			}
		}
		require.NotEmpty(t, volume, "--learner-state-dir %s is not a mounted volume", dir)
		// a restart without the snapshot reads the topics for hours at 7
		// days of late tier: the snapshot must outlive the pod
		var claim string
		for _, v := range pod.Volumes {
			if v.Name == volume {
				require.NotNil(t, v.PersistentVolumeClaim, "volume %s: a PersistentVolumeClaim, so the join snapshot outlives the pod", volume)
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		require.NotEmpty(t, claim, "volume %s is not in the pod's volumes", volume)
		var found bool
		for _, c := range m.claims {
			if c.Metadata.Name != claim {
				continue
			}
			found = true
			require.Equal(t, []string{"ReadWriteOnce"}, c.Spec.AccessModes, "claim %s: one learner pod at a time (strategy Recreate)", claim)
			require.Equal(t, "Recreate", m.deployments[i].Spec.Strategy.Type, "a ReadWriteOnce claim needs the old learner pod gone before the new one starts")
			size, err := parseBytes(c.Spec.Resources.Requests["storage"])
			require.NoError(t, err)
			// twice the snapshot at the default caps: 42 bytes a pending
			// decision and 2.3 a late one, while the next is written
			const snapshotAtTheDefaultCaps = 20_000_000*42 + 125_000_000*23/10
			require.GreaterOrEqual(t, size, int64(2*snapshotAtTheDefaultCaps), "claim %s holds two join snapshots at the default caps", claim)
		}
		require.True(t, found, "claim %s is not among the manifests", claim)
		limit, err := parseBytes(pod.Containers[0].Resources.Limits["memory"])
		require.NoError(t, err)
		heap, err := parseBytes(c.env["GOMEMLIMIT"])
		require.NoError(t, err, "GOMEMLIMIT %q", c.env["GOMEMLIMIT"])
		// the queue at --max-pending and the late tier at --max-late
		// (2 bytes per offset and 32 per 128), outside the Go heap
		const pendingAtTheDefaultCaps = 815<<20 + 270<<20
		require.LessOrEqual(t, heap+pendingAtTheDefaultCaps, limit, "GOMEMLIMIT plus the pending decisions at the default caps fit under the memory limit")
		return
	}
	t.Fatal("no learner Deployment")
}

// parseBytes reads a Kubernetes quantity or a GOMEMLIMIT value in binary
// units (Mi, MiB, Gi, GiB).
func parseBytes(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"Gi", 30}, {"MiB", 20}, {"Mi", 20}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v << u.shift, err
		}
	}
	return 0, fmt.Errorf("%q: not a quantity in Mi or Gi", s)
}

// TestKubernetesAPIReplicas: several API replicas, and a disruption
// budget that covers them and only them.
func TestKubernetesAPIReplicas(t *testing.T) {
	m := readManifests(t)
	api := m.deploymentOfRole(t, "api")
	learner := m.deploymentOfRole(t, "learner")
	require.GreaterOrEqual(t, api.replicas(), 3)
	require.Len(t, m.pdbs, 1)
	pdb := m.pdbs[0]
	require.True(t, pdb.Spec.Selector.matches(api.Spec.Template.Metadata.Labels), "the PodDisruptionBudget selects the API pods")
	require.False(t, pdb.Spec.Selector.matches(learner.Spec.Template.Metadata.Labels), "the PodDisruptionBudget must not select the learner")
	if pdb.Spec.MinAvailable != nil {
		require.Less(t, *pdb.Spec.MinAvailable, api.replicas(), "minAvailable must leave room to drain a node")
	} else {
		require.NotNil(t, pdb.Spec.MaxUnavailable, "maxUnavailable or minAvailable")
		require.Positive(t, *pdb.Spec.MaxUnavailable)
	}
}

// TestKubernetesPods checks every Deployment's pod: probes on the routes
// situ serves at the port it listens on, non-root on a read-only root,
// resources, and selectors that select its own pods only.
func TestKubernetesPods(t *testing.T) {
	flags := serveFlags(t)
	m := readManifests(t)
	containers := m.containers(t)
	for i, d := range m.deployments {
		t.Run(d.Metadata.Name, func(t *testing.T) {
			require.True(t, d.Spec.Selector.matches(d.Spec.Template.Metadata.Labels), "the selector selects the template's pods")
			for j, other := range m.deployments {
				if j != i {
					require.False(t, d.Spec.Selector.matches(other.Spec.Template.Metadata.Labels), "%s's selector also selects %s's pods", d.Metadata.Name, other.Metadata.Name)
				}
			}
			pod := d.Spec.Template.Spec
			kc, c := pod.Containers[0], containers[i]
			addr, _ := c.setting(flags, "addr")
			port := addrPort(t, addr)

			for _, p := range []struct {
				name  string
				probe *kubeProbe
				path  string
			}{
				{"readinessProbe", kc.ReadinessProbe, "/readyz"},
				{"livenessProbe", kc.LivenessProbe, "/healthz"},
			} {
				require.NotNil(t, p.probe, p.name)
				require.NotNil(t, p.probe.HTTPGet, "%s: httpGet", p.name)
				require.Equal(t, p.path, p.probe.HTTPGet.Path, p.name)
				require.Equal(t, port, kc.port(p.probe.HTTPGet.Port), "%s port %q: situ listens on %s", p.name, p.probe.HTTPGet.Port, addr)
			}
			if kc.StartupProbe != nil {
				require.Equal(t, port, kc.port(kc.StartupProbe.HTTPGet.Port), "startupProbe port")
			}

			ann := d.Spec.Template.Metadata.Annotations
			require.Equal(t, "true", ann["prometheus.io/scrape"])
			require.Equal(t, strconv.Itoa(port), ann["prometheus.io/port"])
			require.Equal(t, "/metrics", ann["prometheus.io/path"])

			require.NotNil(t, pod.SecurityContext)
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			require.True(t, *pod.SecurityContext.RunAsNonRoot, "runAsNonRoot")
			sc := kc.SecurityContext
			require.NotNil(t, sc)
			require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
			require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false")
			require.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)

			require.NotEmpty(t, kc.Resources.Requests["cpu"], "cpu request")
			require.NotEmpty(t, kc.Resources.Requests["memory"], "memory request")
			require.NotEmpty(t, kc.Resources.Limits["memory"], "memory limit")
		})
	}
}

// TestKubernetesPolicyMount: --policy names the file the policy ConfigMap
// is mounted as, and that policy loads.
func TestKubernetesPolicyMount(t *testing.T) {
	flags := serveFlags(t)
	m := readManifests(t)
	for i, c := range m.containers(t) {
		t.Run(c.where, func(t *testing.T) {
			file, ok := c.setting(flags, "policy")
			require.True(t, ok, "--policy is not set: the replica would use the embedded default, not the ConfigMap")
			pod := m.deployments[i].Spec.Template.Spec
			var content string
			var mounted bool
			for _, vm := range pod.Containers[0].VolumeMounts {
				key, ok := strings.CutPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/")
				if !ok {
					continue
				}
				for _, v := range pod.Volumes {
					if v.Name == vm.Name && v.ConfigMap != nil {
						cm, found := m.configMaps[v.ConfigMap.Name]
						require.True(t, found, "volume %s: ConfigMap %s is not generated by kustomization.yaml", v.Name, v.ConfigMap.Name)
						content, mounted = cm[key]
						require.True(t, mounted, "ConfigMap %s has no key %s", v.ConfigMap.Name, key)
					}
				}
			}
			require.True(t, mounted, "--policy %s is not in a mounted ConfigMap", file)
			p, err := policy.Parse([]byte(content))
			require.NoError(t, err, "the policy mounted as %s", file)
			require.Positive(t, p.NumRules())
		})
	}
}

// TestKubernetesServices: each Service selects the pods of exactly one
// Deployment and targets a port it declares; the optional ServiceMonitor
// scrapes /metrics on a port every situ Service names.
func TestKubernetesServices(t *testing.T) {
	m := readManifests(t)
	require.NotEmpty(t, m.services)
	for _, s := range m.services {
		t.Run(s.Metadata.Name, func(t *testing.T) {
			var selected []deployment
			for _, d := range m.deployments {
				if len(s.Spec.Selector) > 0 && selects(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
					selected = append(selected, d)
				}
			}
			require.Len(t, selected, 1, "Deployments whose pods the Service selects")
			kc := selected[0].Spec.Template.Spec.Containers[0]
			require.NotEmpty(t, s.Spec.Ports)
			for _, p := range s.Spec.Ports {
				require.NotZero(t, kc.port(p.TargetPort), "targetPort %q is not a port of %s", p.TargetPort, selected[0].Metadata.Name)
			}
		})
	}

	t.Run("servicemonitor.yaml", func(t *testing.T) {
		docs := readYAMLDocs(t, filepath.Join(kubeDir, "servicemonitor.yaml"))
		require.Len(t, docs, 1)
		var sm serviceMonitor
		require.NoError(t, docs[0].Decode(&sm))
		require.Len(t, sm.Spec.Endpoints, 1)
		require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
		for _, s := range m.services {
			require.True(t, sm.Spec.Selector.matches(s.Metadata.Labels), "the ServiceMonitor does not select Service %s", s.Metadata.Name)
			require.True(t, slices.ContainsFunc(s.Spec.Ports, func(p servicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }),
				"Service %s has no port named %q", s.Metadata.Name, sm.Spec.Endpoints[0].Port)
		}
	})
}

// TestKustomization: every manifest in kubernetes/ is a resource, a
// generator's file or declared optional, and kustomize renders the
// directory with the generated ConfigMap names wired in.
func TestKustomization(t *testing.T) {
	m := readManifests(t)
	used := map[string]bool{"kustomization.yaml": true}
	for _, r := range m.kustomization.Resources {
		used[r] = true
	}
	for _, g := range m.kustomization.ConfigMapGenerator {
		for _, f := range g.Files {
			_, file, ok := strings.Cut(f, "=")
			if !ok {
				file = f
			}
			used[file] = true
		}
	}
	for _, f := range optionalManifests {
		used[f] = true
	}
	entries, err := os.ReadDir(kubeDir)
	require.NoError(t, err)
	for _, e := range entries {
		require.True(t, used[e.Name()], "%s/%s is not listed in kustomization.yaml (or optionalManifests)", kubeDir, e.Name())
	}

	t.Run("kubectl kustomize", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl is not installed")
		}
		out, err := exec.Command(kubectl, "kustomize", kubeDir).Output()
		require.NoError(t, err)
		dec := yaml.NewDecoder(strings.NewReader(string(out)))
		kinds := map[string]int{}
		configMaps := map[string]bool{}
		var refs []string
		for {
			var obj struct {
				Kind     string     `yaml:"kind"`
				Metadata objectMeta `yaml:"metadata"`
				Spec     struct {
					Template struct {
						Spec podSpec `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			}
			if dec.Decode(&obj) != nil {
				break
			}
			kinds[obj.Kind]++
			if obj.Kind == "ConfigMap" {
				configMaps[obj.Metadata.Name] = true
			}
			for _, v := range obj.Spec.Template.Spec.Volumes {
				if v.ConfigMap != nil {
					refs = append(refs, v.ConfigMap.Name)
				}
			}
			for _, c := range obj.Spec.Template.Spec.Containers {
				for _, ef := range c.EnvFrom {
					if ef.ConfigMapRef != nil {
						refs = append(refs, ef.ConfigMapRef.Name)
					}
				}
			}
		}
		require.Equal(t, map[string]int{"ConfigMap": len(m.configMaps), "Deployment": len(m.deployments), "Service": len(m.services), "PodDisruptionBudget": len(m.pdbs), "PersistentVolumeClaim": len(m.claims)}, kinds)
		require.NotEmpty(t, refs)
		for _, r := range refs {
			require.True(t, configMaps[r], "rendered Deployments refer to ConfigMap %s, which kustomize did not generate", r)
		}
	})
}
