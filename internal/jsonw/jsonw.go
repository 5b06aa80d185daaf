// Package jsonw appends JSON strings and numbers to byte slices, formatted
// as encoding/json formats them, for the hand-written appenders of
// fixed-shape documents (the score response, the decision event, the API's
// JSON problems and health answers) that write without reflection or
// allocation.
package jsonw

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Float appends f as encoding/json would: the shortest representation that
// round-trips, in exponent form only for very small or large values.
// Non-finite values, which JSON cannot hold, are written as null.
func Float(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	if abs >= 1e-4 && abs < maxShort {
		// A whole number of ten-thousandths (0.96, -0.6, 180, a
		// contribution rounded to four decimals) is written straight
		// from that number, without strconv's shortest-digits search.
		m := f * 1e4
		n := int64(m + math.Copysign(0.5, m)) // m rounded (math.Round is slower)
		if float64(n)/1e4 == f {
			return appendShort(b, n)
		}
	}
	if abs == 0 {
		if math.Signbit(f) {
			return append(b, "-0"...)
		}
		return append(b, '0')
	}
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// maxShort bounds the values Float writes with appendShort: below it, the
// float64 spacing (at most 2⁻¹⁴) is finer than 10⁻⁴, so that the decimal
// n/10⁴ that a float equals when rounded is the only decimal with four
// fraction digits or fewer that rounds to that float. Any shorter decimal
// would be one of them, so n/10⁴ is the shortest that round-trips: the
// digits strconv.AppendFloat(f, 'f', -1, 64) writes.
const maxShort = 1 << 38

// appendShort appends n/10⁴ (n ≠ 0) in decimal, trailing zeros of the
// fraction left out.
func appendShort(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/1e4, 10)
	frac := n % 1e4
	if frac == 0 {
		return b
	}
	digits := 4
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	var d [5]byte // the point and the fraction's digits, leading zeros too
	d[0] = '.'
	for i := digits; i > 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(b, d[:digits+1]...)
}

const hexDigits = "0123456789abcdef"

// String appends s as a JSON string. Control characters, quotes and
// backslashes are escaped, invalid UTF-8 becomes U+FFFD, and U+2028/U+2029
// are escaped for JavaScript consumers. HTML characters are left alone.
func String(b []byte, s string) []byte {
	b, _ = StringValid(b, s)
	return b
}

// StringValid is String that also reports whether s was valid UTF-8, in
// the same pass.
func StringValid(b []byte, s string) ([]byte, bool) {
	valid := true
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			valid = false
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"'), valid
}
