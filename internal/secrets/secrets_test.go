package secrets_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/internal/secrets"
)

var tokenPattern = regexp.MustCompile(`^situ_[A-Za-z0-9_-]{43}$`)

func TestGenerateToken(t *testing.T) {
	a, err := secrets.GenerateToken()
	require.NoError(t, err)
	b, err := secrets.GenerateToken()
	require.NoError(t, err)
	require.Regexp(t, tokenPattern, a)
	require.NotEqual(t, a, b)
}

func TestAdminTokenGeneratedOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "dir") // missing: created 0700
	first, err := secrets.LoadOrCreateAdminToken(dir)
	require.NoError(t, err)
	require.True(t, first.Created)
	require.Equal(t, filepath.Join(dir, secrets.AdminTokenFile), first.Path)

	requireMode(t, dir, 0o700)
	requireMode(t, first.Path, 0o600)
	content, err := os.ReadFile(first.Path)
	require.NoError(t, err)
	tok := strings.TrimSuffix(string(content), "\n")
	require.Regexp(t, tokenPattern, tok)
	require.Equal(t, sha256.Sum256([]byte(tok)), first.SHA256)
	requireNoTempFiles(t, dir)

	// A restart reads the same token.
	second, err := secrets.LoadOrCreateAdminToken(dir)
	require.NoError(t, err)
	require.False(t, second.Created)
	require.Equal(t, first.SHA256, second.SHA256)
	after, err := os.ReadFile(first.Path)
	require.NoError(t, err)
	require.Equal(t, content, after)
}

func TestAdminTokenFromAnExistingFile(t *testing.T) {
	own := "an-operator-chosen-token-of-32-characters"
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		dir     bool // admin.token is a directory
		want    string
		wantErr string
	}{
		{name: "own token with white space around", content: "  " + own + "\r\n\n", mode: 0o600, want: own},
		{name: "read-only for the owner", content: own + "\n", mode: 0o400, want: own},
		{name: "group may read", content: own, mode: 0o640, wantErr: "has mode 0640: group or others may access it; run chmod 600 "},
		{name: "others may read", content: own, mode: 0o604, wantErr: "has mode 0604: group or others may access it; run chmod 600 "},
		{name: "too short", content: "situ_short\n", mode: 0o600, wantErr: "the token has 10 characters, at least 32 are needed; remove the file to have a new token generated"},
		{name: "empty", content: "", mode: 0o600, wantErr: "the token has 0 characters"},
		{name: "two tokens", content: own + " " + own + "\n", mode: 0o600, wantErr: "white space or control characters"},
		{name: "too long", content: strings.Repeat("x", secrets.MaxTokenChars+1), mode: 0o600, wantErr: "more than 1024 characters"},
		{name: "not a file", dir: true, wantErr: "is not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, secrets.AdminTokenFile)
			if tc.dir {
				require.NoError(t, os.Mkdir(path, 0o700))
			} else {
				require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
				require.NoError(t, os.Chmod(path, tc.mode))
			}
			got, err := secrets.LoadOrCreateAdminToken(dir)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, path)
				if tc.content != "" {
					require.NotContains(t, err.Error(), tc.content, "the token never appears in an error")
				}
				return
			}
			require.NoError(t, err)
			require.False(t, got.Created)
			require.Equal(t, sha256.Sum256([]byte(tc.want)), got.SHA256)
		})
	}
}

func TestAdminTokenConcurrentFirstStarts(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	got := make([]secrets.AdminToken, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = secrets.LoadOrCreateAdminToken(dir) })
	}
	wg.Wait()
	created := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, got[0].SHA256, got[i].SHA256)
		if got[i].Created {
			created++
		}
	}
	require.Equal(t, 1, created)
	requireNoTempFiles(t, dir)
}

func TestCustomerKeyFile(t *testing.T) {
	key32 := bytes.Repeat([]byte{0xa5}, 32)
	cases := []struct {
		name    string
		content []byte
		mode    os.FileMode
		missing bool
		want    []byte
		wantErr string // %s is the key file
	}{
		{name: "32 bytes", content: key32, mode: 0o600, want: key32},
		{name: "a trailing newline is part of the key", content: []byte(strings.Repeat("ab", 16) + "\n"), mode: 0o400, want: []byte(strings.Repeat("ab", 16) + "\n")},
		{name: "group may read (a mounted secret)", content: key32, mode: 0o640, want: key32},
		{name: "31 bytes", content: key32[:31], mode: 0o600, wantErr: "customer key file %s: 31 bytes, at least 32 are needed"},
		{name: "empty", content: nil, mode: 0o600, wantErr: "customer key file %s: 0 bytes, at least 32 are needed"},
		{name: "too long", content: make([]byte, secrets.MaxCustomerKeyBytes+1), mode: 0o600, wantErr: "customer key file %s: more than 4096 bytes"},
		{name: "others may read", content: key32, mode: 0o644, wantErr: "%s has mode 0644: others may access it; run chmod 600 %s"},
		{name: "missing is not generated", missing: true, wantErr: "open %s: no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			keyFile := filepath.Join(t.TempDir(), "situ-customer.key")
			if !tc.missing {
				require.NoError(t, os.WriteFile(keyFile, tc.content, 0o600))
				require.NoError(t, os.Chmod(keyFile, tc.mode))
			}
			got, err := secrets.LoadOrCreateCustomerKey(dataDir, keyFile)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, strings.ReplaceAll(tc.wantErr, "%s", keyFile))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Key)
			require.Equal(t, keyFile, got.Path)
			require.False(t, got.Created)
			_, err = os.Stat(filepath.Join(dataDir, secrets.CustomerKeyFile))
			require.ErrorIs(t, err, os.ErrNotExist, "a key file given means nothing is generated")
		})
	}
}

func TestCustomerKeyGeneratedOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := secrets.LoadOrCreateCustomerKey(dir, "")
	require.NoError(t, err)
	require.True(t, first.Created)
	require.Len(t, first.Key, 32)
	require.NotEqual(t, make([]byte, 32), first.Key)
	require.Equal(t, filepath.Join(dir, secrets.CustomerKeyFile), first.Path)
	requireMode(t, dir, 0o700)
	requireMode(t, first.Path, 0o600)
	onDisk, err := os.ReadFile(first.Path)
	require.NoError(t, err)
	require.Equal(t, first.Key, onDisk, "the file's bytes are the key, so it can be reused as --customer-key-file")

	second, err := secrets.LoadOrCreateCustomerKey(dir, "")
	require.NoError(t, err)
	require.False(t, second.Created)
	require.Equal(t, first.Key, second.Key)

	// The generated file is held to owner-only access.
	require.NoError(t, os.Chmod(first.Path, 0o640))
	_, err = secrets.LoadOrCreateCustomerKey(dir, "")
	require.ErrorContains(t, err, "has mode 0640: group or others may access it; run chmod 600 "+first.Path)

	// A truncated generated key is refused, not silently replaced.
	require.NoError(t, os.WriteFile(first.Path, first.Key[:16], 0o600))
	require.NoError(t, os.Chmod(first.Path, 0o600))
	_, err = secrets.LoadOrCreateCustomerKey(dir, "")
	require.ErrorContains(t, err, "customer key file "+first.Path+": 16 bytes, at least 32 are needed")
}

func requireMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, fi.Mode().Perm(), "mode of %s", path)
}

func requireNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp-"), "temporary file left behind: %s", e.Name())
	}
}
