// Command collector is the agentobs Fluent Bit output plugin, built as a
// shared object:
//
//	collector/build.sh out_agentobs.so    # go build -buildmode=c-shared, with the plugin's build tags
//	fluent-bit -e out_agentobs.so -c fluent-bit.yaml    # [OUTPUT] Name agentobs
//
// This file is only the cgo shim of Fluent Bit's Go proxy ABI
// (src/proxy/go/go.c in fluent-bit, flb_plugin.h / flb_output.h in
// fluent-bit-go): register, init per [OUTPUT] section, flush per chunk from
// any worker thread, exit. The work lives in internal/plugin, in plain Go.
package main

import (
	"C"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/agentobs/agentobs/collector/internal/plugin"
	"github.com/fluent/fluent-bit-go/output"
)

// exitTimeout bounds FLBPluginExitCtx/FLBPluginExit: Fluent Bit's shutdown
// waits for them (its own grace period defaults to 5 s).
const exitTimeout = 5 * time.Second

// proc is the state shared by every [OUTPUT] instance of this process.
var proc = plugin.NewProcess(os.Stderr)

// instance is what Fluent Bit holds for one [OUTPUT] section (its
// remote_context). fluent-bit-go never forgets a context, so on exit the
// handle lets go of the output: a hot reload leaves a few bytes behind per
// closed section, not the output and its buffers.
type instance struct{ out atomic.Pointer[plugin.Output] }

func outputOf(ctx unsafe.Pointer) *plugin.Output {
	if h, ok := output.FLBPluginGetContext(ctx).(*instance); ok {
		return h.out.Load()
	}
	return nil
}

// flbConfig serves properties through Fluent Bit's output_get_property.
type flbConfig struct{ plugin unsafe.Pointer }

func (c flbConfig) Get(key string) string { return output.FLBPluginConfigKey(c.plugin, key) }

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	return output.FLBPluginRegister(def, "agentobs", "agentobs: agent logs to Kafka (canonical records, event.id, DLQ)")
}

//export FLBPluginInit
func FLBPluginInit(p unsafe.Pointer) int {
	o, err := proc.Init(flbConfig{plugin: p})
	if err != nil {
		fmt.Fprintf(os.Stderr, "[error] [output:agentobs] %v\n", err)
		return output.FLB_ERROR
	}
	h := &instance{}
	h.out.Store(o)
	output.FLBPluginSetContext(p, h)
	return output.FLB_OK
}

//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) int {
	// Only called by Fluent Bit versions without FlushCtx; never reached today.
	return output.FLB_ERROR
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) int {
	o := outputOf(ctx)
	if o == nil {
		fmt.Fprintln(os.Stderr, "[error] [output:agentobs] flush for an unknown instance")
		return output.FLB_ERROR
	}
	// Fluent Bit's buffer itself, not a copy: it stays valid and unchanged
	// until we return, and nothing decoded from it outlives the flush (every
	// message's key, value and headers are encoded into Go memory; a topic
	// taken from a record is cloned), so the decoder's strings may alias it.
	// The copy it replaces was a third of the plugin's allocated bytes.
	chunk := unsafe.Slice((*byte)(data), int(length))
	return o.Flush(context.Background(), chunk, C.GoString(tag))
}

// FLBPluginExitCtx closes one instance. Fluent Bit 5.x calls it instead of
// FLBPluginExit when exported, at shutdown and for every section on a hot
// reload (Hot_Reload On + SIGHUP) before it initialises the new ones.
//
//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) int {
	h, ok := output.FLBPluginGetContext(ctx).(*instance)
	if !ok {
		return output.FLB_OK
	}
	if o := h.out.Swap(nil); o != nil {
		if err := proc.CloseOutput(o, exitTimeout); err != nil {
			fmt.Fprintf(os.Stderr, "[warn] [output:agentobs] exit: %v\n", err)
		}
	}
	return output.FLB_OK
}

// FLBPluginExit closes everything; only Fluent Bit versions that do not
// know FLBPluginExitCtx call it.
//
//export FLBPluginExit
func FLBPluginExit() int {
	_ = proc.Exit(exitTimeout)
	return output.FLB_OK
}

func main() {}
