package canary

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	f := func(c Config, ok bool) {
		t.Helper()
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("%+v: %v", c, err)
		}
	}
	f(DefaultConfig(), true)
	f(Config{Interval: 0, Forget: 0, MaxSources: 1}, true) // off
	f(Config{Interval: time.Second, Forget: time.Second, MaxSources: 1}, false)
	f(Config{Interval: time.Millisecond, Forget: time.Minute, MaxSources: 1}, false)
	f(Config{Interval: time.Second, Forget: time.Minute, MaxSources: 0}, false)
}
