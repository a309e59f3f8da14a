//go:build !linux

package tail

import (
	"errors"
	"os"
)

// notifier is inotify's, on Linux only: elsewhere followers poll.
type notifier struct{}

func newNotifier() (*notifier, error) { return nil, errors.New("file notifications: Linux only") }

func (n *notifier) watch(*os.File) (<-chan struct{}, func(), error) { return nil, func() {}, nil }

func (n *notifier) close() {}
