// Package secrets owns the secrets situ keeps in its data dir: the admin
// token generated when no --auth-file is given (admin.token) and the key
// under which customer ids are hashed when no --customer-key-file is given
// (customer.key). Each is generated once from crypto/rand, written
// atomically with mode 0600 and read back on every later start; a file
// that others may read is refused rather than used.
//
// Callers get what they need and no more: the admin token's SHA-256 (the
// token itself stays in its file) and the customer-id key's bytes.
package secrets

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"unicode"

	"situ/internal/custhash"
)

// Names of the files inside the data dir.
const (
	AdminTokenFile  = "admin.token"
	CustomerKeyFile = "customer.key"
)

// TokenPrefix starts every token situ generates, so that secret scanners
// and people recognise one in a log, a paste or a repository.
const TokenPrefix = "situ_"

// Limits of what is read back.
const (
	// MinTokenChars is the shortest admin token accepted from the file.
	MinTokenChars = 32
	// MaxTokenChars is the longest.
	MaxTokenChars = 1024
	// MaxCustomerKeyBytes bounds a customer-id key file (the key must be
	// at least custhash.MinKeyBytes long).
	MaxCustomerKeyBytes = 4096
)

// GenerateToken returns a new random token: TokenPrefix followed by the
// unpadded base64url of 32 bytes from crypto/rand (48 characters in all).
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// AdminToken describes the admin token file. The token itself is never
// returned: log Path, keep SHA256.
type AdminToken struct {
	// Path is the token file, <data-dir>/admin.token.
	Path string
	// SHA256 is the SHA-256 of the token.
	SHA256 [sha256.Size]byte
	// Created is true when this call generated the token.
	Created bool
}

// LoadOrCreateAdminToken returns the admin token kept in dir, generating
// it (GenerateToken) on the first call. dir is created with mode 0700 when
// missing. The file holds the token and a newline; surrounding white space
// is ignored when it is read. A file that group or others may access, one
// that is not a regular file, or one whose token is shorter than
// MinTokenChars, is an error.
func LoadOrCreateAdminToken(dir string) (AdminToken, error) {
	path := filepath.Join(dir, AdminTokenFile)
	b, created, err := loadOrCreate(dir, path, MaxTokenChars+2, func() ([]byte, error) {
		tok, err := GenerateToken()
		return []byte(tok + "\n"), err
	})
	if err != nil {
		return AdminToken{}, fmt.Errorf("admin token: %w", err)
	}
	defer clear(b)
	tok := bytes.TrimSpace(b)
	switch {
	case len(tok) < MinTokenChars:
		return AdminToken{}, fmt.Errorf("admin token file %s: the token has %d characters, at least %d are needed; remove the file to have a new token generated", path, len(tok), MinTokenChars)
	case len(tok) > MaxTokenChars:
		return AdminToken{}, fmt.Errorf("admin token file %s: the token has more than %d characters", path, MaxTokenChars)
	case bytes.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return AdminToken{}, fmt.Errorf("admin token file %s: the token holds white space or control characters; the file must hold one token on one line", path)
	}
	return AdminToken{Path: path, SHA256: sha256.Sum256(tok), Created: created}, nil
}

// CustomerKey is the key under which customer ids are hashed
// (custhash.HashCustomerID).
type CustomerKey struct {
	// Key is the key's bytes: every byte of the file.
	Key []byte
	// Path is where it was read from (the --customer-key-file, or
	// <data-dir>/customer.key).
	Path string
	// Created is true when this call generated the key.
	Created bool
}

// LoadOrCreateCustomerKey returns the customer-id key. With keyFile set,
// the key is that file's bytes, all of them (a trailing newline is part of
// the key), at least custhash.MinKeyBytes and at most MaxCustomerKeyBytes;
// a file that others (not its group: a mounted secret may be shared with
// a group) may read is refused. Without keyFile, the key is
// <dir>/customer.key, 32 random bytes generated on the first call (dir is
// created with mode 0700 when missing); that file must be accessible by its
// owner only.
//
// Replicas that share customer memory or experiments must share the key:
// give them the same --customer-key-file (a copy of a generated
// customer.key will do).
func LoadOrCreateCustomerKey(dir, keyFile string) (CustomerKey, error) {
	var (
		b       []byte
		path    = keyFile
		created bool
		err     error
	)
	if keyFile != "" {
		b, err = readPrivate(keyFile, MaxCustomerKeyBytes+1, 0o007)
	} else {
		path = filepath.Join(dir, CustomerKeyFile)
		b, created, err = loadOrCreate(dir, path, MaxCustomerKeyBytes+1, func() ([]byte, error) {
			k := make([]byte, 32)
			_, err := io.ReadFull(rand.Reader, k)
			return k, err
		})
	}
	if err != nil {
		return CustomerKey{}, fmt.Errorf("customer key: %w", err)
	}
	switch {
	case len(b) < custhash.MinKeyBytes:
		return CustomerKey{}, fmt.Errorf("customer key file %s: %d bytes, at least %d are needed", path, len(b), custhash.MinKeyBytes)
	case len(b) > MaxCustomerKeyBytes:
		return CustomerKey{}, fmt.Errorf("customer key file %s: more than %d bytes; is it the right file?", path, MaxCustomerKeyBytes)
	}
	return CustomerKey{Key: b, Path: path, Created: created}, nil
}

// loadOrCreate reads path (owner-only access, at most limit bytes) or,
// when it does not exist, creates it with what generate returns: written to
// a temporary file in dir and linked into place, so that no reader ever
// sees a partial file and two processes starting together end up with the
// same content.
func loadOrCreate(dir, path string, limit int64, generate func() ([]byte, error)) (b []byte, created bool, err error) {
	for range 3 {
		b, err = readPrivate(path, limit, 0o077)
		if !errors.Is(err, fs.ErrNotExist) {
			return b, false, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, err
		}
		content, err := generate()
		if err != nil {
			return nil, false, err
		}
		err = writeNew(dir, path, content)
		clear(content)
		if err == nil {
			return readBack(path, limit)
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, err
		}
		// Another process created it meanwhile: read its content.
	}
	return nil, false, fmt.Errorf("%s keeps appearing and disappearing", path)
}

func readBack(path string, limit int64) ([]byte, bool, error) {
	b, err := readPrivate(path, limit, 0o077)
	return b, err == nil, err
}

// writeNew writes content to path, which must not exist (fs.ErrExist
// otherwise), with mode 0600.
func writeNew(dir, path string, content []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // after the link, only the name goes
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.Write(content); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// A hard link does not replace an existing file, a rename would.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		// A file system without hard links: rename, which is atomic too.
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable where the platform allows.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// readPrivate reads at most limit bytes of the regular file at path
// (following symbolic links), refusing it when its permission bits
// include any of forbidden.
func readPrivate(path string, limit int64, forbidden fs.FileMode) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&forbidden != 0 && runtime.GOOS != "windows" {
		who := "group or others"
		if forbidden&0o070 == 0 {
			who = "others"
		}
		return nil, fmt.Errorf("%s has mode %04o: %s may access it; run chmod 600 %s", path, perm, who, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
