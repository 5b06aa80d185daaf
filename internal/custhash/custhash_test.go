package custhash_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"situ/internal/custhash"
)

// rfc4231 are the HMAC-SHA256 test cases of RFC 4231, section 4.
var rfc4231 = []struct {
	name string
	key  []byte
	data string
	want string
}{
	{"case 1", bytes.Repeat([]byte{0x0b}, 20), "Hi There",
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	{"case 2", []byte("Jefe"), "what do ya want for nothing?",
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"case 6: key longer than a block", bytes.Repeat([]byte{0xaa}, 131), "Test Using Larger Than Block-Size Key - Hash Key First",
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
}

func TestHashCustomerIDMatchesRFC4231(t *testing.T) {
	for _, tc := range rfc4231 {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, custhash.HashCustomerID(tc.key, tc.data))
			if len(tc.key) >= custhash.MinKeyBytes {
				h, err := custhash.New(tc.key)
				require.NoError(t, err)
				require.Equal(t, tc.want, h.Sum(tc.data))
				require.Equal(t, "prefix:"+tc.want, string(h.Append([]byte("prefix:"), tc.data)))
			}
		})
	}
}

func TestNewRefusesShortKeys(t *testing.T) {
	cases := []struct {
		name    string
		key     []byte
		wantErr string
	}{
		{name: "empty", key: nil, wantErr: "customer-id key: 0 bytes, at least 32 are needed"},
		{name: "31 bytes", key: make([]byte, 31), wantErr: "customer-id key: 31 bytes, at least 32 are needed"},
		{name: "32 bytes", key: make([]byte, 32)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := custhash.New(tc.key)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestHasherAgreesWithReference(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef-situ")
	h, err := custhash.New(key)
	require.NoError(t, err)
	ids := []string{"", "c-1842", "Ünïcødé-客户", strings.Repeat("x", 5000), "c-1842 "}
	for _, id := range ids {
		require.Equal(t, custhash.HashCustomerID(key, id), h.Sum(id), "id of %d bytes", len(id))
		require.Len(t, h.Sum(id), custhash.Len)
	}
	require.NotEqual(t, h.Sum("c-1842"), h.Sum("c-1842 "), "ids are hashed as sent, not trimmed")

	// The key is copied: changing the caller's slice changes nothing.
	want := h.Sum("c-1842")
	key[0] ^= 0xff
	require.Equal(t, want, h.Sum("c-1842"))
}

func TestHasherConcurrent(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h, err := custhash.New(key)
	require.NoError(t, err)
	want := custhash.HashCustomerID(key, "c-1842")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if got := h.Sum("c-1842"); got != want {
					t.Errorf("got %s, want %s", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHasherAppendAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	h, err := custhash.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	buf := make([]byte, 0, 128)
	h.Append(buf, "warm-up")
	allocs := testing.AllocsPerRun(1000, func() { buf = h.Append(buf[:0], "c-1842") })
	require.Zero(t, allocs)
}

// TestReproducibleOutsideGo runs the reproduction recipes of the package
// documentation: Python's hmac module and openssl, each where installed.
func TestReproducibleOutsideGo(t *testing.T) {
	key := []byte("a customer-id key of at least 32 bytes\n")
	keyFile := filepath.Join(t.TempDir(), "customer.key")
	require.NoError(t, os.WriteFile(keyFile, key, 0o600))
	id := "c-1842 Ünï"
	want := custhash.HashCustomerID(key, id)

	recipes := []struct {
		name string
		tool string
		args []string
	}{
		{"python3", "python3", []string{"-c",
			"import hmac, hashlib, sys; print(hmac.new(open(sys.argv[1], 'rb').read(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
			keyFile, id}},
		{"openssl", "sh", []string{"-c",
			`printf %s "$2" | openssl dgst -sha256 -mac HMAC -macopt hexkey:"$3" -r`, "sh", keyFile, id, hex.EncodeToString(key)}},
	}
	for _, r := range recipes {
		t.Run(r.name, func(t *testing.T) {
			if _, err := exec.LookPath(r.name); err != nil {
				t.Skipf("%s is not installed", r.name)
			}
			out, err := exec.Command(r.tool, r.args...).Output()
			require.NoError(t, err)
			got, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
			require.Equal(t, want, got)
		})
	}
}

func BenchmarkHasherAppend(b *testing.B) {
	h, err := custhash.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(b, err)
	buf := make([]byte, 0, custhash.Len)
	b.ReportAllocs()
	for b.Loop() {
		buf = h.Append(buf[:0], "c-1842")
	}
}

func BenchmarkHashCustomerID(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	b.ReportAllocs()
	for b.Loop() {
		_ = custhash.HashCustomerID(key, "c-1842")
	}
}
