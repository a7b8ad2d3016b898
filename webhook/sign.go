// Package webhook signs and delivers events per the Standard Webhooks
// specification (https://www.standardwebhooks.com/): a leaf package, fed
// by app through the Queue interface, as mail is.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as the specification writes them.
const SecretPrefix = "whsec_"

// secretBytes is the size of a new secret's key (the spec asks 24 to 64).
const secretBytes = 32

// NewSecret returns a new signing secret: whsec_ and the standard base64
// of random bytes.
func NewSecret() string {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		panic("webhook: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// errBadSecret: a secret that is not whsec_ and base64.
var errBadSecret = errors.New("webhook: malformed signing secret")

// secretKey is the HMAC key of a whsec_ secret: its base64 part, decoded.
func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) == 0 {
		return nil, errBadSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header value for one message:
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" for each secret, separated
// by spaces (two during a rotation, so receivers with either one verify).
func Sign(secrets []string, id string, at time.Time, body []byte) (string, error) {
	ts := strconv.FormatInt(at.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}
