package app

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzMFACodeInput: the second step's body (attacker-controlled JSON)
// decodes and checks to a clean 4xx or to codes of exactly the accepted
// forms, never a panic.
func FuzzMFACodeInput(f *testing.F) {
	for _, seed := range []string{
		`{"mfa_token":"` + strings.Repeat("a", 43) + `","code":"123456"}`,
		`{"mfa_token":"` + strings.Repeat("a", 43) + `","recovery_code":"ABCDE-23456"}`,
		`{"mfa_token":"x","code":"12 34 56"}`, `{"code":"１２３４５６"}`, `{"code":"12a456"}`, `{"code":123456}`,
		`{"recovery_code":"abcde-fghi1"}`, `{"code":"","recovery_code":""}`, `{"mfa_token":null}`, `[`, `{"code":"\u0000\u0000\u0000\u0000\u0000\u0000"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in mfaLoginInput
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if err := decodeJSON(httptest.NewRecorder(), r, &in); err != nil {
			if e, known := asError(err); !known || e.Status() >= 500 {
				t.Fatalf("body %q: got %v, want a 4xx", body, err)
			}
			return
		}
		code, method, err := in.check()
		if err != nil {
			if e, known := asError(err); !known || e.Status() != 400 || len(e.Fields) == 0 {
				t.Fatalf("body %q: got %v, want a 400 naming a field", body, err)
			}
			return
		}
		checkAcceptedCode(t, code, method == "recovery_code")
	})
}

// FuzzTOTPCode: any typed string is refused with a field error or read as
// a code of exactly the accepted form, for both kinds of code.
func FuzzTOTPCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456 ", "12345", "1234567", "12a456", "١٢٣٤٥٦", "abcde-23456", "ABCDE 23456", "abcde-2345!", "--------------------", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if code, err := parseTOTPCode("code", raw); err == nil {
			checkAcceptedCode(t, code, false)
		} else if e, _ := asError(err); e.Status() != 400 {
			t.Fatalf("%q: %v", raw, err)
		}
		if code, err := parseRecoveryCode("code", raw); err == nil {
			checkAcceptedCode(t, code, true)
		} else if e, _ := asError(err); e.Status() != 400 {
			t.Fatalf("%q: %v", raw, err)
		}
		if code, recovery, err := parseAnyCode("code", raw); err == nil {
			checkAcceptedCode(t, code, recovery)
		}
	})
}

func checkAcceptedCode(t *testing.T, code string, recovery bool) {
	t.Helper()
	alphabet, n := "0123456789", totpDigits
	if recovery {
		alphabet, n = recoveryAlphabet, recoveryCodeLen
	}
	if len(code) != n || strings.Trim(code, alphabet) != "" {
		t.Fatalf("accepted code %q (recovery %v) is not of the accepted form", code, recovery)
	}
}

// FuzzWebAuthnResponse: any body sent to a passkey finish route is read
// by the library's decoders to a parsed answer or to a clean 400 (never a
// panic), and the challenge a parsed answer names is a plain string.
func FuzzWebAuthnResponse(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"id":"x"}`, `[1,2]`, `{"response":7}`, `{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0","authenticatorData":"AAAA","signature":"AA","userHandle":"AA"}}`,
		`{"id":"!!","rawId":"!!","type":"public-key","response":{"clientDataJSON":"%%%"}}`,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"v2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YUA"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) (string, error){parseRegistrationResponse, parseLoginResponse} {
			challenge, err := parse(body)
			if err != nil {
				if e, known := asError(err); !known || e.Status() != 400 {
					t.Fatalf("body %q: got %v, want a 400", body, err)
				}
				continue
			}
			_ = strings.TrimSpace(challenge)
		}
	})
}
