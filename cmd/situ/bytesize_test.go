package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestByteSize(t *testing.T) {
	cases := []struct {
		in      string
		want    int64
		str     string
		wantErr bool
	}{
		{in: "0", want: 0, str: "0"},
		{in: "512MiB", want: 512 << 20, str: "512MiB"},
		{in: "2GiB", want: 2 << 30, str: "2GiB"},
		{in: "1024MiB", want: 1 << 30, str: "1GiB"},
		{in: "100MB", want: 100e6, str: "100000000"},
		{in: "64 KiB", want: 64 << 10, str: "64KiB"},
		{in: "123", want: 123, str: "123"},
		{in: "123B", want: 123, str: "123"},
		{in: "-1", wantErr: true},
		{in: "1.5GiB", wantErr: true},
		{in: "lots", wantErr: true},
		{in: "9999999TiB", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			var b byteSize
			err := b.Set(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, int64(b))
			require.Equal(t, tc.str, b.String())
			var again byteSize
			require.NoError(t, again.Set(b.String()), "String round-trips")
			require.Equal(t, b, again)
		})
	}
}
