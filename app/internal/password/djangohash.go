package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hashes imported from Django (docs/migrating-from-django.md) are
// stored as Django wrote them and checked at login the way Django checks
// them; the first successful login replaces them with Marbelle's argon2id.
//
// Imported data is trusted only so far: a hash is a string from a dump, and
// a login computes it on the heap while holding a hashing slot, so a
// crafted one must not make one login cost seconds or gigabytes. Every cost
// parameter is therefore capped a little above the highest default Django
// has written (PBKDF2-SHA256 1,000,000 iterations in Django 5.2; argon2
// time_cost 2, memory_cost 102400 KiB, parallelism 8; bcrypt 12 rounds). A
// hash over a cap is not recognised, before anything is computed: the
// import drops it (the account must reset its password, and the report
// says so), and Verify treats it as a foreign hash, so a store imported by
// an older, laxer binary is protected too. docs/migrating-from-django.md
// states these caps; change them there as well.
const (
	// maxDjangoHashLength is the width of Django's password column
	// (char(128)); nothing longer came from Django.
	maxDjangoHashLength = 128
	// MaxDjangoPBKDF2Iterations is the most iterations of pbkdf2_sha256
	// a Django hash may have.
	MaxDjangoPBKDF2Iterations = 1_200_000
	maxDjangoArgon2Memory     = 128 << 10 // KiB: 128 MiB
	maxDjangoArgon2Time       = 3
	maxDjangoArgon2Threads    = 16
	// MaxDjangoBcryptCost is the highest cost of bcrypt_sha256 a Django
	// hash may have.
	MaxDjangoBcryptCost = 13
)

// verifyDjango checks password against a Django hash: pbkdf2_sha256,
// argon2 (argon2id or argon2i, version 19) or bcrypt_sha256. recognised is
// false for anything else, including a malformed hash or one over a cost
// cap; ok is true only for the right password. Comparisons are constant
// time.
func verifyDjango(encoded, password string) (ok, recognised bool) {
	verify, err := parseDjangoHash(encoded)
	if err != nil {
		return false, false
	}
	return verify(password), true
}

// CheckDjangoHash says why verifyDjango would not recognise encoded (nil
// when it would), without computing a hash; the import reports it.
func CheckDjangoHash(encoded string) error {
	_, err := parseDjangoHash(encoded)
	return err
}

// parseDjangoHash decodes encoded and returns the check of a password
// against it.
func parseDjangoHash(encoded string) (func(password string) bool, error) {
	algorithm, rest, _ := strings.Cut(encoded, "$")
	if len(encoded) > maxDjangoHashLength {
		return nil, fmt.Errorf("a hash of %d characters is over the limit of %d (Django's column width)", len(encoded), maxDjangoHashLength)
	}
	switch algorithm {
	case "pbkdf2_sha256":
		return parseDjangoPBKDF2(rest)
	case "argon2":
		return parseDjangoArgon2(rest)
	case "bcrypt_sha256":
		return parseDjangoBcryptSHA256(rest)
	}
	return nil, fmt.Errorf("the hash algorithm %s is not supported", printableAlgorithm(algorithm))
}

// printableAlgorithm quotes an algorithm name for a report line, or says
// it is unrecognised. Only the names Django's hashers (and argon2's
// variants) go by are named: whatever else precedes the first "$" might
// be a secret (say, a password some old code stored as is).
func printableAlgorithm(a string) string {
	switch a {
	case "pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt",
		"scrypt", "sha1", "md5", "unsalted_sha1", "unsalted_md5", "crypt",
		"argon2i", "argon2d", "argon2id":
		return strconv.Quote(a)
	}
	return "(unrecognised)"
}

// parseDjangoPBKDF2 reads "<iterations>$<salt>$<base64 of 32 bytes>".
func parseDjangoPBKDF2(rest string) (func(string) bool, error) {
	parts := strings.Split(rest, "$")
	if len(parts) != 3 || parts[1] == "" {
		return nil, errors.New("malformed pbkdf2_sha256 hash")
	}
	iter, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil || iter == 0 {
		return nil, errors.New("malformed pbkdf2_sha256 hash (iterations)")
	}
	if iter > MaxDjangoPBKDF2Iterations {
		return nil, fmt.Errorf("pbkdf2_sha256 with %d iterations is over the limit of %d", iter, MaxDjangoPBKDF2Iterations)
	}
	salt := []byte(parts[1])
	want, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(want) != sha256.Size {
		return nil, errors.New("malformed pbkdf2_sha256 hash (hash)")
	}
	return func(password string) bool {
		got, err := pbkdf2.Key(sha256.New, password, salt, int(iter), sha256.Size) // #nosec G115 -- iter <= MaxDjangoPBKDF2Iterations, checked above
		return err == nil && subtle.ConstantTimeCompare(got, want) == 1
	}, nil
}

// parseDjangoArgon2 reads what follows "argon2$":
// "argon2id$v=19$m=<KiB>,t=<t>,p=<p>$<salt>$<hash>" (argon2i too), salt
// and hash in standard base64 without padding, as argon2-cffi writes them.
func parseDjangoArgon2(rest string) (func(string) bool, error) {
	parts := strings.Split(rest, "$")
	if len(parts) != 5 {
		return nil, errors.New("malformed argon2 hash")
	}
	variant := parts[0]
	if variant != "argon2id" && variant != "argon2i" {
		return nil, fmt.Errorf("the argon2 variant %s is not supported", printableAlgorithm(variant))
	}
	if parts[1] != "v=19" {
		return nil, errors.New("only argon2 version 19 is supported")
	}
	var m, t, p uint64
	if _, err := fmt.Sscanf(parts[2], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[2] {
		return nil, errors.New("malformed argon2 hash (parameters)")
	}
	switch {
	case t == 0 || p == 0 || p > 255 || m < 8*p:
		return nil, errors.New("malformed argon2 hash (parameters)")
	case m > maxDjangoArgon2Memory || t > maxDjangoArgon2Time || p > maxDjangoArgon2Threads:
		return nil, fmt.Errorf("argon2 with m=%d,t=%d,p=%d is over the limit of m=%d,t=%d,p=%d", m, t, p, maxDjangoArgon2Memory, maxDjangoArgon2Time, maxDjangoArgon2Threads)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(strings.TrimRight(parts[3], "="))
	if err != nil || len(salt) < 8 {
		return nil, errors.New("malformed argon2 hash (salt)")
	}
	want, err := b64.DecodeString(strings.TrimRight(parts[4], "="))
	if err != nil || len(want) < 4 || len(want) > 128 {
		return nil, errors.New("malformed argon2 hash (hash)")
	}
	key := argon2.IDKey
	if variant == "argon2i" {
		key = argon2.Key
	}
	return func(password string) bool {
		got := key([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want))) // #nosec G115 -- t, m, p and len(want) are bounded above
		return subtle.ConstantTimeCompare(got, want) == 1
	}, nil
}

// parseDjangoBcryptSHA256 reads what follows "bcrypt_sha256$": a bcrypt
// hash "$2b$<cost>$<53 characters>" over the lower-case hex SHA-256 of
// the password.
func parseDjangoBcryptSHA256(rest string) (func(string) bool, error) {
	if len(rest) != 60 || !(strings.HasPrefix(rest, "$2a$") || strings.HasPrefix(rest, "$2b$") || strings.HasPrefix(rest, "$2y$")) {
		return nil, errors.New("malformed bcrypt_sha256 hash")
	}
	cost, err := bcrypt.Cost([]byte(rest))
	if err != nil {
		return nil, errors.New("malformed bcrypt_sha256 hash")
	}
	if cost > MaxDjangoBcryptCost {
		return nil, fmt.Errorf("bcrypt_sha256 with cost %d is over the limit of %d", cost, MaxDjangoBcryptCost)
	}
	stored := []byte(rest)
	return func(password string) bool {
		sum := sha256.Sum256([]byte(password))
		// CompareHashAndPassword compares in constant time.
		return bcrypt.CompareHashAndPassword(stored, []byte(hex.EncodeToString(sum[:]))) == nil
	}, nil
}
