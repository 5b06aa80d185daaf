package deploy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"situ/api"
	"situ/internal/secrets"
)

// readSecretTemplates returns the Secrets of secrets.example.yaml: name →
// key → content.
func readSecretTemplates(t *testing.T) map[string]map[string][]byte {
	t.Helper()
	out := map[string]map[string][]byte{}
	for i, doc := range readYAMLDocs(t, filepath.Join(kubeDir, secretTemplates)) {
		var s struct {
			Kind       string            `yaml:"kind"`
			Metadata   objectMeta        `yaml:"metadata"`
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		require.NoError(t, doc.Decode(&s))
		require.Equal(t, "Secret", s.Kind, "%s document %d", secretTemplates, i+1)
		require.NotContains(t, out, s.Metadata.Name, "%s: Secret %s twice", secretTemplates, s.Metadata.Name)
		keys := map[string][]byte{}
		for k, v := range s.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			require.NoError(t, err, "Secret %s data %s", s.Metadata.Name, k)
			keys[k] = b
		}
		for k, v := range s.StringData {
			keys[k] = []byte(v)
		}
		require.NotEmpty(t, keys, "Secret %s has no key", s.Metadata.Name)
		out[s.Metadata.Name] = keys
	}
	return out
}

// secretFile resolves a file path in the situ container of the i-th
// Deployment to the Secret mounted there: its name, the key and the mode
// of the file.
func (m manifests) secretFile(t *testing.T, i int, file string) (secret, key string, mode fs.FileMode) {
	t.Helper()
	pod := m.deployments[i].Spec.Template.Spec
	for _, vm := range pod.Containers[0].VolumeMounts {
		rest, ok := strings.CutPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		require.True(t, vm.ReadOnly, "volumeMount %s at %s: readOnly: true", vm.Name, vm.MountPath)
		require.Empty(t, vm.SubPath, "volumeMount %s: mount the whole Secret, not a subPath", vm.Name)
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			require.NotNil(t, v.Secret, "%s is mounted from volume %s, which is not a Secret", file, v.Name)
			key = rest
			for _, item := range v.Secret.Items {
				if item.Path == rest {
					key = item.Key
				}
			}
			mode = 0o644 // the Kubernetes default
			if v.Secret.DefaultMode != nil {
				mode = fs.FileMode(*v.Secret.DefaultMode)
			}
			return v.Secret.SecretName, key, mode
		}
		require.Failf(t, "no volume", "volumeMount %s has no volume", vm.Name)
	}
	require.Failf(t, "not mounted", "%s is in no mounted volume", file)
	return "", "", 0
}

// TestKubernetesSecrets checks the Secrets the pods mount: every Secret a
// volume names has a template in secrets.example.yaml; each process that
// reads --auth-file and --customer-key-file gets both (on a read-only root
// it could generate neither), from Secrets mounted read-only with a mode
// situ accepts and its group can read through fsGroup; the templates hold
// placeholders situ refuses, never a usable token hash or key; and with
// the placeholders replaced the process starts on its --addr (the auth
// file has a score token).
func TestKubernetesSecrets(t *testing.T) {
	flags := serveFlags(t)
	m := readManifests(t)
	templates := readSecretTemplates(t)
	for i, c := range m.containers(t) {
		pod := m.deployments[i].Spec.Template.Spec
		t.Run(c.where, func(t *testing.T) {
			for _, v := range pod.Volumes {
				if v.Secret != nil {
					require.Contains(t, templates, v.Secret.SecretName, "volume %s: Secret %s has no template in %s", v.Name, v.Secret.SecretName, secretTemplates)
				}
			}
			role, _ := c.setting(flags, "role")
			if !readsSecretFlags(role) {
				return // TestSecretFlagsOnlyWhereRead
			}
			content := map[string][]byte{}
			modes := map[string]fs.FileMode{}
			for _, name := range secretFlags {
				file, ok := c.setting(flags, name)
				require.True(t, ok, "--%s is not set: on a read-only root situ can generate no replacement", name)
				secret, key, mode := m.secretFile(t, i, file)
				b, ok := templates[secret][key]
				require.True(t, ok, "--%s %s: the template of Secret %s has no key %s", name, file, secret, key)
				require.Zero(t, mode&^fs.ModePerm, "Secret %s: defaultMode %o", secret, mode)
				require.Zero(t, mode&0o007, "Secret %s: defaultMode %04o lets others read the file; situ refuses such a key file", secret, mode)
				require.NotZero(t, mode&0o040, "Secret %s: defaultMode %04o: situ reads it as a member of the fsGroup", secret, mode)
				require.NotNil(t, pod.SecurityContext.FSGroup, "fsGroup: the Secret's files belong to root and to this group")
				content[name], modes[name] = b, mode
			}

			_, err := api.ParseTokens(content["auth-file"])
			require.ErrorContains(t, err, "sha256", "the auth file template must hold placeholders, not hashes of tokens")
			tokens, err := api.ParseTokens(fillTokenHashes(t, content["auth-file"]))
			require.NoError(t, err, "the auth file template with its placeholders replaced")
			checkScoreExposure(t, c, tokens)

			dir := t.TempDir()
			placeholder := filepath.Join(dir, "placeholder.key")
			writeWithMode(t, placeholder, content["customer-key-file"], modes["customer-key-file"])
			_, err = secrets.LoadOrCreateCustomerKey(dir, placeholder)
			require.Error(t, err, "the customer key template must be a placeholder situ refuses, not a key")
			key := make([]byte, 32)
			_, err = rand.Read(key)
			require.NoError(t, err)
			keyFile := filepath.Join(dir, "customer.key")
			writeWithMode(t, keyFile, key, modes["customer-key-file"])
			_, err = secrets.LoadOrCreateCustomerKey(dir, keyFile)
			require.NoError(t, err, "a 32-byte key mounted with mode %04o", modes["customer-key-file"])
		})
	}
}

// fillTokenHashes replaces every sha256 of an auth file with a distinct
// hash, as the operator does who follows the template.
func fillTokenHashes(t *testing.T, doc []byte) []byte {
	t.Helper()
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(doc, &root))
	n := 0
	var walk func(*yaml.Node)
	walk = func(node *yaml.Node) {
		if node.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(node.Content); j += 2 {
				if node.Content[j].Value == "sha256" {
					sum := sha256.Sum256([]byte(fmt.Sprint("token-", n)))
					node.Content[j+1].Value, node.Content[j+1].Style, node.Content[j+1].Tag = hex.EncodeToString(sum[:]), 0, "!!str"
					n++
				}
			}
		}
		for _, child := range node.Content {
			walk(child)
		}
	}
	walk(&root)
	require.Positive(t, n, "the auth file template has no sha256")
	out, err := yaml.Marshal(&root)
	require.NoError(t, err)
	return out
}

func writeWithMode(t *testing.T, path string, b []byte, mode fs.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, b, 0o600))
	require.NoError(t, os.Chmod(path, mode))
}
