package main

import (
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServeArgsBrokerBudget(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string // the --broker-max-bytes arguments situ serve gets, nil: none
	}{
		{name: "the soak's own budget", flags: nil, want: []string{"--broker-max-bytes", "64MiB"}},
		{name: "a budget given", flags: []string{"--broker-max-bytes", "256MiB"}, want: []string{"--broker-max-bytes", "256MiB"}},
		{name: "situ's default", flags: []string{"--broker-max-bytes", "default"}, want: nil},
		{name: "empty: situ's default", flags: []string{"--broker-max-bytes", ""}, want: nil},
		{name: "no size limit passes through", flags: []string{"--broker-max-bytes", "0"}, want: []string{"--broker-max-bytes", "0"}},
		{name: "extra flags come last", flags: []string{"--broker-max-bytes", "default", "--", "--broker-max-bytes", "1GiB"}, want: []string{"--broker-max-bytes", "1GiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.flags, io.Discard)
			require.NoError(t, err)
			args := serveArgs(cfg, "127.0.0.1:1", "127.0.0.1:2", "/tmp/d")
			require.Equal(t, []string{"serve", "--role", "all"}, args[:3])
			i := slices.Index(args, "--broker-max-bytes")
			if tc.want == nil {
				require.Equal(t, -1, i, "args %q", args)
				return
			}
			require.GreaterOrEqual(t, i, 0, "args %q", args)
			require.Equal(t, tc.want, args[i:i+2])
			require.Equal(t, -1, slices.Index(args[i+1:], "--broker-max-bytes"), "given once: %q", args)
		})
	}
}
