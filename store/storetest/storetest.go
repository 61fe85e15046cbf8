// Package storetest runs tests against every database the store supports:
// SQLite always, PostgreSQL when GATEWAY_TEST_POSTGRES_DSN names a server
// (scripts/ci-postgres.sh starts one and prints its DSN). Each test gets a
// fresh database of its own: a SQLite file in the test's temp dir, or a
// fresh PostgreSQL schema that is dropped when the test ends.
package storetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/paygate/paygate/store"
)

// EnvDSN names the environment variable with the PostgreSQL DSN.
const EnvDSN = "GATEWAY_TEST_POSTGRES_DSN"

// SkipMessage says how to run the PostgreSQL variant of a test.
const SkipMessage = "PostgreSQL tests skipped: set " + EnvDSN +
	"=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable (scripts/ci-postgres.sh starts a local server and prints one)"

// Drivers lists the store's drivers in test order.
var Drivers = []string{"sqlite", "postgres"}

// Each runs fn as one subtest per driver ("sqlite", "postgres"). The
// postgres subtest is skipped, with SkipMessage, when EnvDSN is unset.
func Each(t *testing.T, fn func(t *testing.T, driver string)) {
	t.Helper()
	for _, d := range Drivers {
		t.Run(d, func(t *testing.T) {
			if d == "postgres" {
				RequirePostgres(t)
			}
			fn(t, d)
		})
	}
}

// RequirePostgres skips the test unless EnvDSN is set.
func RequirePostgres(t testing.TB) string {
	t.Helper()
	dsn := strings.TrimSpace(os.Getenv(EnvDSN))
	if dsn == "" {
		t.Skip(SkipMessage)
	}
	return dsn
}

// FreshDSN returns the DSN of an empty database for driver, removed when
// the test ends: a new SQLite file, or a new PostgreSQL schema (selected
// through search_path) that is dropped with everything in it. Stores
// opened on it must be closed before the test's cleanups run (register
// their Close with t.Cleanup after calling FreshDSN).
func FreshDSN(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case "sqlite":
		return filepath.Join(t.TempDir(), "gateway.db")
	case "postgres":
		base := RequirePostgres(t)
		schema := schemaName(t.Name())
		admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
		if err != nil {
			t.Fatalf("connect to %s: %v", EnvDSN, err)
		}
		sqlDB, _ := admin.DB()
		if err := admin.Exec(`CREATE SCHEMA "` + schema + `"`).Error; err != nil {
			_ = sqlDB.Close()
			t.Fatalf("create schema %s: %v", schema, err)
		}
		t.Cleanup(func() {
			if err := admin.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`).Error; err != nil {
				t.Errorf("drop schema %s: %v", schema, err)
			}
			_ = sqlDB.Close()
		})
		dsn, err := WithSearchPath(base, schema)
		if err != nil {
			t.Fatal(err)
		}
		return dsn
	}
	t.Fatalf("unknown driver %q", driver)
	return ""
}

// Open opens and migrates a store on a fresh database of driver; it is
// closed when the test ends.
func Open(t testing.TB, driver string, opts store.Options) *store.Store {
	t.Helper()
	return OpenDSN(t, driver, FreshDSN(t, driver), opts)
}

// OpenDSN opens a store on dsn (e.g. a second handle on the database of
// FreshDSN, as a second gateway process would); it is closed when the
// test ends.
func OpenDSN(t testing.TB, driver, dsn string, opts store.Options) *store.Store {
	t.Helper()
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 8 // many tests share one server's connection limit
	}
	st, err := store.Open(driver, dsn, opts)
	if err != nil {
		t.Fatalf("open %s store: %v", driver, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

func schemaName(testName string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b[:]))
}

// WithSearchPath adds search_path=schema to a PostgreSQL DSN in URL form
// (postgres://...) or key=value form.
func WithSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("%s: %w", EnvDSN, err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " search_path=" + schema, nil
}
