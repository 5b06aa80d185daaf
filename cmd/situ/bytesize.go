package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag holding a number of bytes, written as a whole number
// with an optional unit: B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB,
// GB, TB (powers of 1000).
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	for _, u := range byteUnits[:4] {
		if n := int64(*b); n != 0 && n%u.factor == 0 && n/u.factor < 1024 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return errors.New("not a size: a whole number of bytes with an optional unit, e.g. 512MiB, 2GiB or 0")
	}
	if n > (1<<62)/factor {
		return fmt.Errorf("size too large")
	}
	*b = byteSize(n * factor)
	return nil
}
