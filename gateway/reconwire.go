package gateway

import (
	"fmt"

	"github.com/paygate/paygate/gateway/recon"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/csvstatement"
)

// buildRecon reads every channel's `statement` settings and builds the
// reconciliation engine. A daily schedule on a provider without a
// statement API is a start-up error naming the field.
func (a *App) buildRecon() (*recon.Engine, error) {
	settings := map[string]recon.ChannelSettings{}
	for i, m := range a.Config.Merchants {
		for j, c := range m.Channels {
			if c.Statement == nil {
				continue
			}
			field := fmt.Sprintf("merchants[%d].channels[%d].statement", i, j)
			loc, err := c.Statement.Location()
			if err != nil {
				return nil, fmt.Errorf("%s.timezone: %w", field, err)
			}
			set := recon.ChannelSettings{Location: loc, DailyAt: c.Statement.DailyOffset()}
			ch, _ := a.Orders.Channel(c.ID)
			if set.DailyAt != nil {
				if _, ok := ch.Provider.(providers.StatementSource); !ok {
					return nil, fmt.Errorf("%s.daily_at: provider %s has no statement API; upload its statement files instead (statement.columns)", field, c.Provider)
				}
			}
			if m := c.Statement.Mapping(); m != nil {
				fmtLoc := loc
				if fmtLoc == nil {
					if f, ok := ch.Provider.(providers.StatementFormat); ok {
						fmtLoc = f.StatementLocation()
					}
				}
				set.Upload = &csvstatement.Format{Mapping: *m, Location: fmtLoc, Currency: c.Currency}
			}
			settings[c.ID] = set
		}
	}
	rc := a.Config.Reconciliation
	e := recon.New(a.Orders, a.Store, a.log, settings, recon.Options{Tick: rc.Interval, RetryEvery: rc.Retry})
	rm := a.Metrics.NewRecon()
	e.Observe, e.ObserveRun = rm.Difference, rm.Run
	return e, nil
}
