package testutil

import "fmt"

// Django hash strings of a chosen cost, for the tests of the caps on
// imported hashes (the importer's and the password package's). Their salts
// and hashes are well formed, so only the cost can make one refused; none
// needs to be computable, since the point is that none is computed.
const (
	// DjangoHash32 is a 32-byte hash in standard base64, as PBKDF2 stores it.
	DjangoHash32 = "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="
	// DjangoBcryptTail is the salt and hash part of a bcrypt string.
	DjangoBcryptTail = "CCCCCCCCCCCCCCCCCCCCC.bdNwF18LmuBgx.3vdUAHc5aN/.UHaVC"
	capSalt          = "c29tZXNhbHQ"                                 // argon2 "somesalt"
	capArgon         = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc" // argon2 32-byte hash
)

// DjangoPBKDF2 is a pbkdf2_sha256 hash string with iter iterations.
func DjangoPBKDF2(iter int) string {
	return fmt.Sprintf("pbkdf2_sha256$%d$salt$%s", iter, DjangoHash32)
}

// DjangoArgon2 is an argon2 hash string of variant with m, t and p.
func DjangoArgon2(variant string, m, t, p int) string {
	return fmt.Sprintf("argon2$%s$v=19$m=%d,t=%d,p=%d$%s$%s", variant, m, t, p, capSalt, capArgon)
}

// DjangoBcrypt is a bcrypt_sha256 hash string of cost.
func DjangoBcrypt(cost int) string {
	return fmt.Sprintf("bcrypt_sha256$$2b$%02d$%s", cost, DjangoBcryptTail)
}
