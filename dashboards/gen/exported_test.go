package gen

import (
	"testing"

	"github.com/agentobs/agentobs/alerts/promcheck"
	"github.com/agentobs/agentobs/alerts/promcheck/components"
)

// exportedMetrics is the set of series names the components export, from
// their real registries: the same set the alert rules are checked against
// (alerts/promcheck/components), so a dashboard and a rule cannot disagree
// on which metrics exist.
func exportedMetrics(t *testing.T) promcheck.Exported {
	t.Helper()
	e, err := components.Exported()
	if err != nil {
		t.Fatal(err)
	}
	return e
}
