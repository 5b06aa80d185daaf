package deploy

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/api"
)

// secretFlags are the flags of situ serve that name a secret file; only the
// roles that serve the HTTP API (readsSecretFlags) read them.
var secretFlags = []string{"auth-file", "customer-key-file"}

// readsSecretFlags reports whether situ serve --role role reads
// --auth-file, --customer-key-file and --allow-open-score: the roles that
// serve /v1/score and the admin API and write decision events.
func readsSecretFlags(role string) bool {
	return role == "api" || role == "all"
}

// TestSecretFlagsOnlyWhereRead: the learner reads none of the access
// flags, so compose and the manifests give it none (a flag it ignores
// suggests a protection that is not there).
func TestSecretFlagsOnlyWhereRead(t *testing.T) {
	flags := serveFlags(t)
	for _, c := range append(composeContainers(t), kubeContainers(t)...) {
		role, _ := c.setting(flags, "role")
		if readsSecretFlags(role) {
			continue
		}
		for _, name := range append(secretFlags, "allow-open-score") {
			_, set := c.setting(flags, name)
			require.False(t, set, "%s: --role %s does not read --%s", c.where, role, name)
		}
	}
}

// checkScoreExposure checks that situ serve starts with the container's
// --addr and --allow-open-score and the tokens its --auth-file holds:
// api.CheckScoreExposure, which situ serve calls at start, returns nil.
func checkScoreExposure(t *testing.T, c container, tokens api.Tokens) {
	t.Helper()
	flags := serveFlags(t)
	role, _ := c.setting(flags, "role")
	if !readsSecretFlags(role) {
		return
	}
	addr, ok := c.setting(flags, "addr")
	require.True(t, ok, "%s: --addr is not set", c.where)
	require.NoError(t, api.CheckScoreExposure(addr, tokens, c.boolSetting(t, flags, "allow-open-score")), "%s: situ serve would refuse to start", c.where)
}

// boolSetting returns the effective value of a boolean flag: --name or
// --name=BOOL on the command line (the last wins), else its variable.
func (c container) boolSetting(t *testing.T, flags map[string]string, name string) bool {
	t.Helper()
	value, found := c.arg(name, true)
	if !found {
		if value, found = c.env[flags[name]]; !found {
			return false
		}
	}
	b, err := strconv.ParseBool(value)
	require.NoError(t, err, "%s: --%s=%q", c.where, name, value)
	return b
}
