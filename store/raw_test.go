package store

import (
	"sort"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// The hot path's INSERTs name their columns by hand: a field added to a
// model must be added there too, or it would silently not be written.
func TestRawColumnsCoverTheModels(t *testing.T) {
	for _, tc := range []struct {
		model any
		cols  []string
	}{
		{&Notification{}, notificationColumns},
		{&MerchantEvent{}, eventColumns},
		{&EventAttempt{}, attemptColumns},
	} {
		sch, err := schema.Parse(tc.model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		want := append([]string(nil), sch.DBNames...)
		got := append([]string(nil), tc.cols...)
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: raw INSERT writes %v, the model has %v", sch.Table, got, want)
		}
	}
}

func TestBindNumbersPostgresPlaceholders(t *testing.T) {
	pg := &Store{driver: "postgres"}
	if got := pg.bind("UPDATE t SET a = ?, b = (x + ?) WHERE id = ?"); got != "UPDATE t SET a = $1, b = (x + $2) WHERE id = $3" {
		t.Fatalf("postgres: %s", got)
	}
	lite := &Store{driver: "sqlite"}
	if got := lite.bind("SELECT ?"); got != "SELECT ?" {
		t.Fatalf("sqlite: %s", got)
	}
}
