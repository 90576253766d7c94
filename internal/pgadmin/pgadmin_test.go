package pgadmin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Unit tests: no server needed.

var verifierRE = regexp.MustCompile(`^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$`)

// parseVerifier splits a stored SCRAM-SHA-256 verifier into its parts.
func parseVerifier(t *testing.T, v string) (iterations int, salt, storedKey, serverKey []byte) {
	t.Helper()
	head, keys, ok := strings.Cut(strings.TrimPrefix(v, "SCRAM-SHA-256$"), "$")
	require.True(t, ok && strings.HasPrefix(v, "SCRAM-SHA-256$"), "not a SCRAM-SHA-256 verifier: %q", v)
	iter, saltB64, ok := strings.Cut(head, ":")
	require.True(t, ok, v)
	stored, server, ok := strings.Cut(keys, ":")
	require.True(t, ok, v)
	var err error
	iterations, err = strconv.Atoi(iter)
	require.NoError(t, err)
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	return iterations, dec(saltB64), dec(stored), dec(server)
}

// The SCRAM-SHA-256 exchange of RFC 7677 section 3 (user "user", password
// "pencil"): a verifier built with its salt must reproduce the client proof
// (via StoredKey) and the server signature (via ServerKey).
func TestScramVerifierRFC7677(t *testing.T) {
	salt, err := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	require.NoError(t, err)
	v, err := scramVerifier("pencil", salt, 4096)
	require.NoError(t, err)
	_, _, storedKey, serverKey := parseVerifier(t, v)

	const (
		clientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst     = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		clientFinalBare = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
		clientProof     = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	authMessage := clientFirstBare + "," + serverFirst + "," + clientFinalBare

	assert.Equal(t, serverSignature, base64.StdEncoding.EncodeToString(hmacSHA256(serverKey, authMessage)))

	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); StoredKey = H(ClientKey).
	proof, err := base64.StdEncoding.DecodeString(clientProof)
	require.NoError(t, err)
	clientSignature := hmacSHA256(storedKey, authMessage)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSignature[i]
	}
	h := sha256.Sum256(clientKey)
	assert.True(t, hmac.Equal(storedKey, h[:]), "StoredKey does not match the RFC 7677 client proof")
}

func TestScramSHA256VerifierFormat(t *testing.T) {
	v1, err := ScramSHA256Verifier("secret")
	require.NoError(t, err)
	v2, err := ScramSHA256Verifier("secret")
	require.NoError(t, err)
	require.Regexp(t, verifierRE, v1)
	assert.NotEqual(t, v1, v2, "each verifier gets a fresh random salt")

	iter, salt, stored, server := parseVerifier(t, v1)
	assert.Equal(t, ScramIterations, iter)
	assert.Len(t, salt, 16)
	assert.Len(t, stored, 32)
	assert.Len(t, server, 32)
	again, err := scramVerifier("secret", salt, iter)
	require.NoError(t, err)
	assert.Equal(t, v1, again, "deterministic for a given salt")

	for _, bad := range []string{"", "a\x00b"} {
		_, err := ScramSHA256Verifier(bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
}

func TestSASLPrep(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// RFC 4013 section 3 examples (a prohibited input is used raw, as PostgreSQL does).
		{"I\u00ADX", "IX"},
		{"user", "user"},
		{"USER", "USER"},
		{"\u00AA", "a"},
		{"\u2168", "IX"},
		{"\u0007", "\u0007"},             // ASCII: never touched
		{"\u0627\u0031", "\u0627\u0031"}, // bidi: must end with RandALCat
		// More.
		{"\uFB01x", "fix"},                           // NFKC
		{"a\u00A0b\u3000c", "a b c"},                 // non-ASCII spaces
		{"A\u030A", "\u00C5"},                        // composition
		{"\u00AD", "\u00AD"},                         // maps to nothing: empty, so raw
		{"é\uE000", "é\uE000"},                       // private use: prohibited
		{"é\U0001F511", "é\U0001F511"},               // unassigned in Unicode 3.2
		{"\u05D0a\u05D1", "\u05D0a\u05D1"},           // RandALCat with LCat
		{"\u0627\u0031\u0628", "\u0627\u0031\u0628"}, // valid bidi (already NFKC)
		{"\xff\xfe", "\xff\xfe"},                     // invalid UTF-8
	} {
		assert.Equal(t, tc.want, saslPrep(tc.in), "saslPrep(%+q)", tc.in)
	}
}

func TestQuoteLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           "'plain'",
		"it's":            "'it''s'",
		`back\slash`:      `E'back\\slash'`,
		`\'; DROP ROLE x`: `E'\\''; DROP ROLE x'`,
		"":                "''",
	} {
		got, err := quoteLiteral(in)
		require.NoError(t, err)
		assert.Equal(t, want, got, "quoteLiteral(%q)", in)
	}
	_, err := quoteLiteral("a\x00")
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestQuoteIdent(t *testing.T) {
	assert.Equal(t, `"app-user"`, quoteIdent("app-user"))
	assert.Equal(t, `"shop""db"`, quoteIdent(`shop"db`))
}

func TestFormatServerVersionNum(t *testing.T) {
	assert.Equal(t, "15.18", formatServerVersionNum(150018))
	assert.Equal(t, "10.0", formatServerVersionNum(100000))
	assert.Equal(t, "9.6.24", formatServerVersionNum(90624))
}

func TestConnInfoDefaultsAndValidate(t *testing.T) {
	d := ConnInfo{Host: "db", User: "postgres"}.WithDefaults()
	assert.Equal(t, ConnInfo{Host: "db", User: "postgres", Port: 5432, Database: "postgres", SSLMode: "prefer",
		ConnectTimeout: 10 * time.Second}, d)
	require.NoError(t, d.Validate())

	for name, c := range map[string]ConnInfo{
		"no host":       {User: "u"},
		"multi host":    {Host: "a,b", User: "u"},
		"no user":       {Host: "h"},
		"bad port":      {Host: "h", User: "u", Port: 70000},
		"bad sslmode":   {Host: "h", User: "u", SSLMode: "sometimes"},
		"NUL password":  {Host: "h", User: "u", Password: "a\x00b"},
		"long database": {Host: "h", User: "u", Database: strings.Repeat("d", 64)},
	} {
		err := c.Validate()
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
		_, err = c.PgxConfig()
		assert.ErrorIs(t, err, ErrInvalidArgument, name)
	}
}

func TestConnInfoNeverPrintsPassword(t *testing.T) {
	const pw = "hunter2-secret"
	c := ConnInfo{Host: "db", User: "postgres", Password: pw}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, c)
		assert.NotContains(t, out, pw, format)
		assert.Contains(t, out, "redacted", format)
	}
	assert.NotContains(t, fmt.Sprintf("%v", &c), pw)
}

func TestPgxConfig(t *testing.T) {
	// Environment variables must not override what ConnInfo says.
	t.Setenv("PGPASSWORD", "from-env")
	t.Setenv("PGHOST", "env-host")
	t.Setenv("PGSSLMODE", "require")

	pw := `p@ss:w/o?r#d 'q' "dq" \b\ ü ` + "\t="
	c := ConnInfo{Host: "db.example", Port: 6543, User: `o'dd \user`, Password: pw, Database: `shop"db x`,
		SSLMode: "disable", ConnectTimeout: 1500 * time.Millisecond}
	cfg, err := c.PgxConfig()
	require.NoError(t, err)
	assert.Equal(t, "db.example", cfg.Host)
	assert.Equal(t, uint16(6543), cfg.Port)
	assert.Equal(t, `o'dd \user`, cfg.User)
	assert.Equal(t, pw, cfg.Password)
	assert.Equal(t, `shop"db x`, cfg.Database)
	assert.Nil(t, cfg.TLSConfig, "sslmode=disable")
	assert.Empty(t, cfg.Fallbacks)
	assert.Equal(t, 2*time.Second, cfg.ConnectTimeout)
	assert.Equal(t, ApplicationName, cfg.RuntimeParams["application_name"])

	cfg, err = ConnInfo{Host: "db", User: "u", SSLMode: "verify-full"}.PgxConfig()
	require.NoError(t, err)
	require.NotNil(t, cfg.TLSConfig)
	assert.Equal(t, "db", cfg.TLSConfig.ServerName)
	assert.Empty(t, cfg.Fallbacks, "verify-full never falls back to plain text")
}

func TestRedact(t *testing.T) {
	base := errors.New("auth failed for secret-pw in here")
	err := redact(fmt.Errorf("wrapped: %w", base), "secret-pw", "")
	assert.NotContains(t, err.Error(), "secret-pw")
	assert.Contains(t, err.Error(), "<redacted>")
	assert.NotErrorIs(t, err, base, "the chain holding the secret is dropped")

	clean := fmt.Errorf("wrapped: %w", errors.New("no secret"))
	assert.Same(t, clean, redact(clean, "secret-pw"))
	assert.NoError(t, redact(nil, "x"))
}

// Arguments are checked before the connection is used (it is nil here).
func TestAdminValidatesArguments(t *testing.T) {
	a := &pgxAdmin{}
	ctx := context.Background()
	const pw = "s3cret-value"
	for name, call := range map[string]func() error{
		"empty role":         func() error { return a.EnsureRoleAndDatabase(ctx, "", pw, "db") },
		"empty database":     func() error { return a.EnsureRoleAndDatabase(ctx, "r", pw, "") },
		"long role":          func() error { return a.EnsureRoleAndDatabase(ctx, strings.Repeat("r", 64), pw, "db") },
		"NUL in role":        func() error { return a.SetPassword(ctx, "r\x00", pw) },
		"empty password":     func() error { return a.EnsureRoleAndDatabase(ctx, "r", "", "db") },
		"NUL password":       func() error { return a.SetPassword(ctx, "r", pw+"\x00") },
		"empty set password": func() error { return a.SetPassword(ctx, "r", "") },
	} {
		err := call()
		require.ErrorIs(t, err, ErrInvalidArgument, name)
		assert.NotContains(t, err.Error(), pw, name)
	}
}

// ---------------------------------------------------------------------------
// Tests against the real PostgreSQL 15 server started by TestMain.

func TestServerVersion(t *testing.T) {
	s := requireServer(t)
	v, err := s.admin(t).ServerVersion(testContext(t))
	require.NoError(t, err)
	assert.Regexp(t, `^15\.\d+$`, v)
}

func TestEnsureRoleAndDatabase(t *testing.T) {
	s := requireServer(t)
	a := s.admin(t)
	ctx := testContext(t)
	role, db := pgtest.UniqueName("app_"), pgtest.UniqueName("appdb_")
	const pw = "first-Password-1"

	require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, pw, db))
	s.requireLogin(t, role, pw, db)

	var owner string
	require.NoError(t, s.superConn(t).QueryRow(ctx,
		"SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = $1", db).Scan(&owner))
	assert.Equal(t, role, owner)

	// Idempotent, and an existing role keeps its password.
	before := s.storedPassword(t, role)
	require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, "other-password", db))
	assert.Equal(t, before, s.storedPassword(t, role), "second call changed the stored password")
	s.requireLogin(t, role, pw, db)
	s.requireNoLogin(t, role, "other-password", db)

	// The owner can create objects in its database.
	info := ConnInfo{Host: "127.0.0.1", Port: s.Port, User: role, Password: pw, Database: db, SSLMode: "disable"}
	cfg, err := info.PgxConfig()
	require.NoError(t, err)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err)

	// An existing role gets a missing database.
	db2 := pgtest.UniqueName("appdb_")
	require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, pw, db2))
	s.requireLogin(t, role, pw, db2)
}

func TestSetPasswordRotates(t *testing.T) {
	s := requireServer(t)
	a := s.admin(t)
	ctx := testContext(t)
	role, db := pgtest.UniqueName("rot_"), pgtest.UniqueName("rotdb_")
	const oldPW, newPW = "old-Password-1", "new-Password-2"

	require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, oldPW, db))
	s.requireLogin(t, role, oldPW, db)

	require.NoError(t, a.SetPassword(ctx, role, newPW))
	s.requireNoLogin(t, role, oldPW, db)
	s.requireLogin(t, role, newPW, db)

	err := a.SetPassword(ctx, pgtest.UniqueName("missing_"), newPW)
	require.ErrorIs(t, err, ErrRoleNotFound)
	assert.NotContains(t, err.Error(), newPW)

	// The connection is still usable after the failed statement.
	_, err = a.ServerVersion(ctx)
	require.NoError(t, err)
}

func TestPasswordsWithSpecialCharacters(t *testing.T) {
	s := requireServer(t)
	a := s.admin(t)
	ctx := testContext(t)
	passwords := []string{
		`it's a "quoted" password`,
		`back\slash\\ and \' and \x41 and E'\n'`,
		"  leading and trailing spaces  ",
		"pässwörd 日本語 ключ",
		"emoji 🔑 ok",
		"pa\u0308ss decomposed",
		`'; DROP ROLE postgres; --`,
		`$1 $$dollar$$ %s %v {}`,
		"md5" + strings.Repeat("0123456789abcdef", 2), // looks like an MD5 hash: still a password
		"SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5",       // looks like a verifier: still a password
		"tab\tand\nnewline",
	}
	db := pgtest.UniqueName("charsdb_") // created by the first subtest; CREATE DATABASE is the slow part
	for i, pw := range passwords {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			role := pgtest.UniqueName("chars_")
			require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, pw, db))
			s.requireLogin(t, role, pw, db)

			rotated := "rotated " + pw
			require.NoError(t, a.SetPassword(ctx, role, rotated))
			s.requireLogin(t, role, rotated, db)
			s.requireNoLogin(t, role, pw, db)
		})
	}
}

func TestStoredPasswordIsSCRAMVerifier(t *testing.T) {
	s := requireServer(t)
	a := s.admin(t)
	ctx := testContext(t)
	role, db := pgtest.UniqueName("scram_"), pgtest.UniqueName("scramdb_")
	const pw, pw2 = "Stored-Clear-Text-Check-1", "Stored-Clear-Text-Check-2"

	require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, pw, db))
	stored := s.storedPassword(t, role)
	assert.True(t, strings.HasPrefix(stored, "SCRAM-SHA-256$"), stored)
	assert.Regexp(t, verifierRE, stored)
	assert.NotContains(t, stored, pw)

	require.NoError(t, a.SetPassword(ctx, role, pw2))
	stored2 := s.storedPassword(t, role)
	assert.Regexp(t, verifierRE, stored2)
	assert.NotContains(t, stored2, pw2)
	assert.NotEqual(t, stored, stored2)
}

// The verifier computed in Go must be exactly the one PostgreSQL computes from
// the clear password (same salt and iterations), SASLprep corner cases
// included, or clients would fail to log in with some passwords.
func TestVerifierMatchesServerComputation(t *testing.T) {
	s := requireServer(t)
	conn := s.superConn(t)
	ctx := testContext(t)
	role := pgtest.UniqueName("prep_")
	_, err := conn.Exec(ctx, "CREATE ROLE "+quoteIdent(role)+" LOGIN")
	require.NoError(t, err)

	for _, pw := range []string{
		"pencil",
		"ctrl\x01\x7f chars",
		"I\u00ADX",
		"\u00AA\u2168",
		"\uFB01 ligature",
		"non\u00A0breaking\u3000spaces",
		"A\u030Angstrom",
		"ＡＢＣ１２３",
		"\u01C4",
		"\u1100\u1161 jamo",
		"\u200Bzero width",
		"שלום",
		"שalom",
		"\u0627\u0031",
		"\u0627\u0031\u0628",
		"🔑 key",
		"\uE000 private",
		"\u00AD",
		"\u0221 unassigned in 3.2",
		"\u2FF0 prohibited",
		// Each of these contains a character SASLprep would change, and one
		// that makes PostgreSQL fall back to the raw password.
		"\uFB01\U0001F511",   // unassigned in Unicode 3.2
		"\uFB01\u0221",       // unassigned in Unicode 3.2, assigned later
		"\uFB01\uE000",       // private use: prohibited
		"\uFB01\x01",         // ASCII control: prohibited (not an ASCII-only string)
		"\u05D0\uFB01\u05D1", // RandALCat with LCat
		"\uFB01\u05D0",       // RandALCat not first
		"\u05D0\uFB4F\u05D1", // valid bidi, changed by NFKC
		`quote ' and backslash \`,
	} {
		lit, err := quoteLiteral(pw)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "ALTER ROLE "+quoteIdent(role)+" PASSWORD "+lit)
		require.NoError(t, err, "%+q", pw)

		serverVerifier := s.storedPassword(t, role)
		iter, salt, _, _ := parseVerifier(t, serverVerifier)
		ours, err := scramVerifier(pw, salt, iter)
		require.NoError(t, err)
		assert.Equal(t, serverVerifier, ours, "password %+q (SASLprep %+q)", pw, saslPrep(pw))
	}
}

func TestWrongSuperuserPasswordErrorHasNoPassword(t *testing.T) {
	s := requireServer(t)
	info := s.superInfo()
	info.Password = "Wrong-Superuser-Password-" + pgtest.RandomHex(4)
	a, err := Connect(testContext(t), info)
	require.Error(t, err)
	require.Nil(t, a)
	assert.True(t, hasSQLState(err, "28P01"), "want invalid_password, got %v", err)
	assert.NotContains(t, err.Error(), info.Password)
	assert.NotContains(t, err.Error(), s.SuperPassword)
	assert.NotContains(t, fmt.Sprintf("%+v", err), info.Password)
}

func TestConnectUnreachable(t *testing.T) {
	port, err := pgtest.FreePort()
	require.NoError(t, err)
	info := ConnInfo{Host: "127.0.0.1", Port: port, User: "postgres", Password: "Unreachable-Secret",
		SSLMode: "disable", ConnectTimeout: 2 * time.Second}
	_, err = Connect(testContext(t), info)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), info.Password)
}

func TestOddIdentifiers(t *testing.T) {
	s := requireServer(t)
	a := s.admin(t)
	ctx := testContext(t)
	for _, tc := range []struct{ role, db string }{
		{"app-user", `shop"db`},
		{`Mixed Case "Role"`, "db with spaces; DROP DATABASE postgres"},
		{`o'brien\`, "naïve-дб"},
		{`x"; DROP ROLE "canopy su-per admin"; --`, `y" OWNER postgres; DROP DATABASE postgres; --`},
		{`$1 $$x$$ :'a' \gexec`, `E'\\'; SELECT pg_sleep(0); --`},
	} {
		const pw = "Odd-Identifier-Pw-1"
		require.NoError(t, a.EnsureRoleAndDatabase(ctx, tc.role, pw, tc.db), "%q/%q", tc.role, tc.db)
		require.NoError(t, a.EnsureRoleAndDatabase(ctx, tc.role, pw, tc.db), "second call %q/%q", tc.role, tc.db)
		s.requireLogin(t, tc.role, pw, tc.db)
		require.NoError(t, a.SetPassword(ctx, tc.role, pw+"-2"))
		s.requireLogin(t, tc.role, pw+"-2", tc.db)
	}
	var n int
	require.NoError(t, s.superConn(t).QueryRow(ctx,
		"SELECT count(*) FROM pg_catalog.pg_database WHERE datname = 'postgres'").Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, s.superConn(t).QueryRow(ctx,
		"SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1 AND rolsuper", s.SuperUser).Scan(&n))
	assert.Equal(t, 1, n, "the hostile role names dropped no role")
}

// The server logs every statement (log_statement = 'all'): the clear
// passwords must not be in its log, only verifiers.
func TestServerLogHasNoClearPassword(t *testing.T) {
	s := requireServer(t)
	a := s.admin(t)
	ctx := testContext(t)
	role, db := pgtest.UniqueName("logged_"), pgtest.UniqueName("loggeddb_")
	pw1 := "Log-Marker-Create-" + pgtest.RandomHex(6)
	pw2 := "Log-Marker-Rotate-" + pgtest.RandomHex(6)

	require.NoError(t, a.EnsureRoleAndDatabase(ctx, role, pw1, db))
	require.NoError(t, a.SetPassword(ctx, role, pw2))
	s.requireLogin(t, role, pw2, db)

	log := s.ReadLog()
	require.Contains(t, log, "ALTER ROLE "+quoteIdent(role), "statements are logged")
	assert.Contains(t, log, "SCRAM-SHA-256$")
	assert.NotContains(t, log, pw1)
	assert.NotContains(t, log, pw2)
}

// Admin is small enough to fake; the pgx implementation satisfies it.
var _ Admin = (*pgxAdmin)(nil)
