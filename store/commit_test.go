package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// holdWriter occupies the group commit with a write that waits until the
// returned release is called, so that the writes queued meanwhile form
// the next group together.
func holdWriter(t *testing.T, st *store.Store) (release func(), done <-chan error) {
	t.Helper()
	started, unblock, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		finished <- st.InTx(ctx, func(tx *store.Store) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() { close(unblock) }, finished
}

// waitQueued waits until n more writes than before are queued behind the
// held one (the group commit counts them only when they run, so this
// polls the test's own counter).
func waitQueued(t *testing.T, queued *sync.WaitGroup) {
	t.Helper()
	ch := make(chan struct{})
	go func() { queued.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("writes were not queued")
	}
}

// runGroup lets the writes queued behind the held one run as one group
// and waits for all of them.
func runGroup(t *testing.T, queued, all *sync.WaitGroup, release func(), held <-chan error) {
	t.Helper()
	waitQueued(t, queued)
	time.Sleep(50 * time.Millisecond) // let every goroutine reach the queue
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	all.Wait()
}

func TestGroupCommitMemberFailureCommitsTheOthers(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	seedConfig(t, st)
	release, held := holdWriter(t, st)
	before := st.CommitStats()

	created := time.Now().UTC()
	errBoom := errors.New("boom")
	type result struct {
		no  string
		err error
		pan any
	}
	const n = 12
	results := make(chan result, n)
	var queued, all sync.WaitGroup
	for i := 0; i < n; i++ {
		queued.Add(1)
		all.Add(1)
		go func(i int) {
			defer all.Done()
			no := fmt.Sprintf("GROUP%05d", i)
			r := result{no: no}
			defer func() {
				r.pan = recover()
				results <- r
			}()
			queued.Done() // about to queue; the writer is held, so it waits in line
			r.err = st.InTx(ctx, func(tx *store.Store) error {
				if err := tx.InsertOrder(ctx, newOrder(no, created)); err != nil {
					return err
				}
				switch i {
				case 3:
					return errBoom // after writing: its row must be rolled back alone
				case 5:
					// A constraint failure inside the group.
					return tx.InsertOrder(ctx, newOrder(no, created))
				case 7:
					panic("member panics")
				}
				return nil
			})
		}(i)
	}
	runGroup(t, &queued, &all, release, held)
	close(results)

	for r := range results {
		_, getErr := st.OrderByOutTradeNo(ctx, "m1", r.no)
		switch r.no {
		case "GROUP00003":
			if !errors.Is(r.err, errBoom) {
				t.Errorf("%s: err %v, want its own error", r.no, r.err)
			}
		case "GROUP00005":
			if !errors.Is(r.err, store.ErrDuplicate) {
				t.Errorf("%s: err %v, want ErrDuplicate", r.no, r.err)
			}
		case "GROUP00007":
			if r.pan == nil {
				t.Errorf("%s: the member's panic did not reach its caller", r.no)
			}
		default:
			if r.err != nil || r.pan != nil {
				t.Errorf("%s: err %v panic %v", r.no, r.err, r.pan)
			}
			if getErr != nil {
				t.Errorf("%s: committed member's row: %v", r.no, getErr)
			}
			continue
		}
		if !errors.Is(getErr, store.ErrNotFound) {
			t.Errorf("%s: a failed member's write survived (%v)", r.no, getErr)
		}
	}
	after := st.CommitStats()
	// The held write was counted when it began; the queued writes went
	// in one commit (two if the scheduler was slow to queue one of them).
	if c := after.Commits - before.Commits; c < 1 || c > 2 {
		t.Errorf("%d commits for %d queued writes, want 1 (or 2)", c, n)
	}
	if w := after.Writes - before.Writes; w != n {
		t.Errorf("%d writes went through the group commit, want %d", w, n)
	}
}

// Every caller is answered only after its change is durable: a reader on
// another connection sees it the moment the write returns.
func TestGroupCommitAnswersAfterCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver, store.Options{})
		seedConfig(t, st)
		created := time.Now().UTC()
		var wg sync.WaitGroup
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				no := fmt.Sprintf("SEEN%06d", i)
				if err := st.InsertOrder(ctx, newOrder(no, created)); err != nil {
					t.Error(err)
					return
				}
				if _, err := st.OrderByOutTradeNo(ctx, "m1", no); err != nil {
					t.Errorf("%s not visible to a reader after the write returned: %v", no, err)
				}
			}(i)
		}
		wg.Wait()
		if driver == "sqlite" {
			s := st.CommitStats()
			t.Logf("%d writes in %d commits", s.Writes, s.Commits)
		}
	})
}

func TestGroupCommitCancelledBeforeItRunsDoesNothing(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	seedConfig(t, st)
	release, held := holdWriter(t, st)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.InsertOrder(cctx, newOrder("CANCELLED1", time.Now().UTC())) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if _, err := st.OrderByOutTradeNo(ctx, "m1", "CANCELLED1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a write cancelled while queued ran: %v", err)
	}
}

func TestGroupCommitClosed(t *testing.T) {
	st, err := store.Open("sqlite", storetest.FreshDSN(t, "sqlite"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seedConfig(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertOrder(ctx, newOrder("AFTERCLOSE", time.Now().UTC())); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
}

// A caller that goes away once its write has begun (a provider closing
// the connection mid-notification) neither cuts its own write in half nor
// interrupts the group: the statements it runs after its context ended
// still run, and every member commits. Before, the store's methods passed
// the caller's context down to the driver, which interrupted SQLite on
// cancellation (rolling back the whole group transaction) or refused the
// statement.
func TestGroupCommitMemberWhoseCallerLeftCompletes(t *testing.T) {
	st := storetest.Open(t, "sqlite", store.Options{})
	seedConfig(t, st)
	release, held := holdWriter(t, st)
	created := time.Now().UTC()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var queued, all sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		queued.Add(1)
		all.Add(1)
		go func(i int) {
			defer all.Done()
			c := ctx
			if i == 1 {
				c = cctx
			}
			queued.Done()
			errs[i] = st.InTx(c, func(tx *store.Store) error {
				if err := tx.InsertOrder(c, newOrder(fmt.Sprintf("LEFT%05dA", i), created)); err != nil {
					return err
				}
				if i == 1 {
					cancel() // the caller is gone between two statements
				}
				for k := 0; k < 50; k++ {
					if _, err := tx.OrderByOutTradeNo(c, "m1", fmt.Sprintf("LEFT%05dA", i)); err != nil {
						return fmt.Errorf("read %d: %w", k, err)
					}
				}
				return tx.InsertOrder(c, newOrder(fmt.Sprintf("LEFT%05dB", i), created))
			})
		}(i)
	}
	runGroup(t, &queued, &all, release, held)
	for i, err := range errs {
		if err != nil {
			t.Errorf("member %d: %v", i, err)
		}
		for _, half := range []string{"A", "B"} {
			if _, err := st.OrderByOutTradeNo(ctx, "m1", fmt.Sprintf("LEFT%05d%s", i, half)); err != nil {
				t.Errorf("member %d, row %s: %v", i, half, err)
			}
		}
	}
}

// A member's SAVEPOINT keeps the first copy of each page it changes (a
// sub-journal). Once that outgrew 64 KiB SQLite spilled it to a temporary
// file, and every later page went through two write(2) calls in the one
// serial section; in memory it is a copy. Members here each rewrite rows
// on pages that existed before the group (only those are journalled), far
// more than 64 KiB of them.
func TestGroupCommitKeepsSavepointJournalsInMemory(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	st := storetest.Open(t, "sqlite", store.Options{})
	seedConfig(t, st)
	created := time.Now().UTC()
	const rows = 400
	orders := make([]*store.Order, rows)
	for i := range orders {
		orders[i] = newOrder(fmt.Sprintf("SUBJ%05d", i), created)
		if err := st.InsertOrder(ctx, orders[i]); err != nil {
			t.Fatal(err)
		}
	}
	release, held := holdWriter(t, st)
	const members = 4
	var queued, all sync.WaitGroup
	errs := make(chan error, members)
	for m := 0; m < members; m++ {
		queued.Add(1)
		all.Add(1)
		go func(m int) {
			defer all.Done()
			queued.Done()
			errs <- st.InTx(ctx, func(tx *store.Store) error {
				for i := m; i < rows; i += members {
					o := *orders[i]
					if err := tx.UpdateOrder(ctx, &o, map[string]any{"description": strings.Repeat("x", 200)}); err != nil {
						return err
					}
				}
				// The sub-journal lives until the transaction ends.
				return openTempFile()
			})
		}(m)
	}
	runGroup(t, &queued, &all, release, held)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := st.CommitStats(); c.Writes < members {
		t.Fatalf("%d writes through the group commit", c.Writes)
	}
}

// openTempFile says which of SQLite's temporary files this process holds
// open, if any (they are unlinked at once and named etilqs_...).
func openTempFile() error {
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + fd.Name())
		if strings.Contains(target, "etilqs_") {
			return fmt.Errorf("SQLite holds a temporary file open: %s (a savepoint journal on disk)", target)
		}
	}
	return nil
}

// The same on PostgreSQL, where there is no group: a caller that goes
// away once its write has begun does not cut it short, neither between
// the statements of its transaction nor while a statement waits for a
// row another transaction holds. Before, the caller's context reached
// pgx, which cancelled the statement (database/sql rolled the
// transaction back), and a write that may have committed came back as
// an error.
func TestPostgresWriteWhoseCallerLeftCompletes(t *testing.T) {
	storetest.RequirePostgres(t)
	st := storetest.Open(t, "postgres", store.Options{})
	seedConfig(t, st)
	created := time.Now().UTC()

	cctx, cancel := context.WithCancel(ctx)
	err := st.InTx(cctx, func(tx *store.Store) error {
		if err := tx.InsertOrder(cctx, newOrder("PGLEFT0001A", created)); err != nil {
			return err
		}
		cancel() // the caller is gone between two statements
		if _, err := tx.OrderByOutTradeNo(cctx, "m1", "PGLEFT0001A"); err != nil {
			return err
		}
		return tx.InsertOrder(cctx, newOrder("PGLEFT0001B", created))
	})
	if err != nil {
		t.Fatalf("transaction whose caller left: %v", err)
	}
	for _, no := range []string{"PGLEFT0001A", "PGLEFT0001B"} {
		if _, err := st.OrderByOutTradeNo(ctx, "m1", no); err != nil {
			t.Errorf("%s: %v", no, err)
		}
	}

	// A compare-and-set waiting for a row lock when its caller leaves.
	o, err := st.OrderByOutTradeNo(ctx, "m1", "PGLEFT0001A")
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := st.DB().DB()
	if err != nil {
		t.Fatal(err)
	}
	holder, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, "SELECT id FROM orders WHERE id = $1 FOR UPDATE", o.ID); err != nil {
		t.Fatal(err)
	}
	cctx, cancel = context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.UpdateOrder(cctx, o, map[string]any{"provider_status": "USERPAYING"}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	time.Sleep(100 * time.Millisecond)
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("compare-and-set whose caller left while it waited: %v", err)
	}
	if got, err := st.OrderByID(ctx, o.ID); err != nil || got.ProviderStatus != "USERPAYING" {
		t.Fatalf("after it: %v %+v", err, got)
	}
	// A caller gone before the write begins gets its answer, and nothing runs.
	if err := st.InsertOrder(cctx, newOrder("PGLEFT0002", created)); !errors.Is(err, context.Canceled) {
		t.Fatalf("write after its caller left: %v, want context.Canceled", err)
	}
}
