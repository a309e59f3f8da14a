package kafkaclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
)

// This file is the producer's wire path: one Send becomes one produce
// request per partition leader, carrying every partition's records of that
// Send, instead of kafka-go Writer's one request per partition. With 6
// partitions on one broker that is a sixth of the requests, and the broker
// spends its CPU per request: behind the Writer it spent 8.5-11.8 CPU s per
// million records against 2.9-3.4 behind librdkafka (Fluent Bit's
// out_kafka) and the Java producer, which both send one request per broker
// (make bench, R2 and R3, on the 2 cores the broker shares).

// leaderGroup is the part of a Send that goes to one partition leader.
type leaderGroup struct {
	parts map[int32][]int32 // partition → indexes into the Send's messages
	order []int32           // its partitions, in ascending order
	// most caps a partition's records per request below BatchSize after
	// Kafka refused a batch of it as too large (see produceLeader).
	most map[int32]int
}

// leaders returns topic's partition leaders (broker id by partition id)
// from the transport's cluster metadata, which it refreshes every
// MetadataTTL in the background: kafka-go's Writer asked the same cache per
// message, a Send asks it once.
func (p *Producer) leaders(ctx context.Context, topic string) ([]int32, error) {
	res, err := p.meta.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of topic %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of topic %s: %w", topic, t.Error)
		}
		leaders := make([]int32, len(t.Partitions))
		for _, pt := range t.Partitions {
			if pt.ID < 0 || pt.ID >= len(leaders) {
				return nil, fmt.Errorf("metadata of topic %s: partition %d of %d", topic, pt.ID, len(leaders))
			}
			leaders[pt.ID] = int32(pt.Leader.ID)
		}
		if len(leaders) > 0 {
			return leaders, nil
		}
	}
	return nil, fmt.Errorf("metadata of topic %s: %w", topic, kafka.UnknownTopicOrPartition)
}

// size is a message's bytes as counted against BatchBytes: its key, value
// and headers and a few bytes of framing (kafka-go's Writer counted the
// same within a few bytes of varint lengths).
func size(m *kafka.Message) int64 {
	n := 4 + len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// produceOnce sends the messages at pending (all to topic, in partitions
// part) in one request per leader, at most BatchSize records and
// BatchBytes per partition and request (more go in further requests), and
// sets errs[i] for each message. It returns the indexes worth another
// attempt.
func (p *Producer) produceOnce(ctx context.Context, topic string, msgs []kafka.Message, sizes []int64, part, leaders, pending []int32, errs []error, s *writeScratch) []int32 {
	// pending by partition, each partition's in their order: a counting
	// sort into the write's memory instead of a growing list per
	// partition. first[pt] counts partition pt's messages, then ends its
	// run in byPart, then (placed from the back) starts it.
	first := grow(s.first, len(leaders))
	s.first = first
	for _, i := range pending {
		if pt := part[i]; int(pt) >= len(leaders) { // partitions shrank: cannot happen in Kafka, but never index past
			errs[i] = fmt.Errorf("topic %s: partition %d of %d: %w", topic, pt, len(leaders), kafka.UnknownTopicOrPartition)
			continue
		}
		first[part[i]]++
	}
	var total int32
	for pt := range first {
		total += first[pt]
		first[pt] = total
	}
	byPart := grow(s.byPart, int(total))
	s.byPart = byPart
	for _, i := range slices.Backward(pending) {
		if pt := part[i]; int(pt) < len(leaders) {
			first[pt]--
			byPart[first[pt]] = i
		}
	}
	groups := map[int32]*leaderGroup{}
	for pt := range int32(len(leaders)) {
		end := total
		if int(pt)+1 < len(leaders) {
			end = first[pt+1]
		}
		if first[pt] == end {
			continue
		}
		g := groups[leaders[pt]]
		if g == nil {
			g = &leaderGroup{parts: map[int32][]int32{}}
			groups[leaders[pt]] = g
		}
		g.order = append(g.order, pt)
		g.parts[pt] = byPart[first[pt]:end:end]
	}
	var retry []int32
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.produceLeader(ctx, topic, msgs, sizes, g, errs)
			mu.Lock()
			retry = append(retry, r...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return retry
}

// produceLeader sends one leader's share, request after request until every
// partition's list is sent.
func (p *Producer) produceLeader(ctx context.Context, topic string, msgs []kafka.Message, sizes []int64, g *leaderGroup, errs []error) []int32 {
	var retry []int32
	for len(g.order) > 0 {
		req := &rawproduce.Request{Acks: int16(p.acks), Timeout: int32(p.cfg.WriteTimeout / time.Millisecond),
			Topics: []rawproduce.RequestTopic{{Topic: topic}}}
		sent := map[int32][]int32{}
		failed := map[int32]error{}
		fail := func(pt int32, idx []int32, err error) {
			failed[pt] = err
			for _, i := range idx {
				errs[i] = err
			}
			if retryable(err) {
				retry = append(retry, idx...)
			}
		}
		var bufs []*[]byte
		now := time.Now()
		rest := g.order[:0:0]
		for _, pt := range g.order {
			idx := g.parts[pt]
			most := p.cfg.BatchSize
			if m := g.most[pt]; m > 0 {
				most = m
			}
			n, total := 0, int64(0)
			for n < len(idx) && n < most {
				b := sizes[idx[n]]
				if n > 0 && total+b > p.cfg.BatchBytes {
					break
				}
				total += b
				n++
			}
			if n < len(idx) {
				g.parts[pt] = idx[n:]
				rest = append(rest, pt)
			}
			buf, _ := batches.Get().(*[]byte)
			if buf == nil {
				buf = new([]byte)
			}
			rs, err := encodeBatch((*buf)[:0], p.codec, msgs, idx[:n], now)
			if err != nil {
				batches.Put(buf)
				fail(pt, idx[:n], fmt.Errorf("encode a record batch for %s partition %d: %w", topic, pt, err))
				continue
			}
			*buf = rs
			bufs = append(bufs, buf)
			sent[pt] = idx[:n]
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rawproduce.RequestPartition{Partition: pt,
				RecordSet: protocol.RawRecordSet{Reader: bytes.NewReader(rs)}})
		}
		g.order = rest
		if len(sent) == 0 {
			continue
		}
		var split []int32
		rctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
		p.m.Requests.Inc()
		res, err := p.tr.RoundTrip(rctx, p.meta.Addr, req)
		cancel()
		// A request that failed may still sit in the connection's queue,
		// to be written from its buffers later: only an answered request
		// gives them back.
		if err == nil {
			for _, b := range bufs {
				batches.Put(b)
			}
		}
		switch {
		case err != nil:
			for pt, idx := range sent {
				fail(pt, idx, err)
			}
		case p.acks == kafka.RequireNone:
			for _, idx := range sent {
				for _, i := range idx {
					errs[i] = nil
				}
			}
		default:
			got := map[int32]bool{}
			for _, t := range res.(*produceAPI.Response).Topics {
				for _, rp := range t.Partitions {
					idx, ok := sent[rp.Partition]
					if !ok || t.Topic != topic {
						continue
					}
					got[rp.Partition] = true
					if e := kafka.Error(rp.ErrorCode); (e == kafka.MessageSizeTooLarge || e == kafka.RecordListTooLarge) && len(idx) > 1 {
						// The batch, not a record, is over the topic's
						// max.message.bytes (an incompressible batch near
						// BatchBytes, or a topic set below it): sent again in
						// halves until a batch fits, so only a record that is
						// too large on its own is refused (as the Java
						// producer splits such a batch).
						if g.most == nil {
							g.most = map[int32]int{}
						}
						split = append(split, rp.Partition)
						// A partition's list is capped at the end of its run
						// (produceOnce), so the batch and what followed it
						// are the batch's slice up to its capacity.
						g.parts[rp.Partition] = idx[:cap(idx)]
						g.most[rp.Partition] = len(idx) / 2
						p.m.Splits.Inc()
						continue
					}
					if rp.ErrorCode != 0 {
						fail(rp.Partition, idx, kafka.Error(rp.ErrorCode))
						continue
					}
					for _, i := range idx {
						errs[i] = nil
					}
				}
			}
			for pt, idx := range sent {
				if !got[pt] {
					fail(pt, idx, fmt.Errorf("produce to %s partition %d: no answer for the partition: %w", topic, pt, io.ErrUnexpectedEOF))
				}
			}
		}
		for _, pt := range split {
			if !slices.Contains(g.order, pt) {
				g.order = append(g.order, pt)
			}
		}
		// A partition whose request failed with a temporary error sends no
		// more in this attempt: its later records wait with the failed
		// ones, so the retry keeps them in order behind them (one trace,
		// one partition, in order). Records refused for good are not
		// retried (they go to the caller's dead letters), so the rest of
		// their partition goes on.
		if len(failed) > 0 {
			kept := g.order[:0]
			for _, pt := range g.order {
				if err, ok := failed[pt]; ok && retryable(err) {
					fail(pt, g.parts[pt], err)
					continue
				}
				kept = append(kept, pt)
			}
			g.order = kept
		}
	}
	return retry
}

// retryable is whether another attempt of the same request may succeed
// within the Send: kafka-go's Writer's rule (a temporary Kafka error, or a
// connection that broke), so the attempts a Send makes are what they were.
// What a caller does with a failed record after the Send is Classify's
// decision, which also counts refused credentials and unknown errors as
// worth retrying later.
func retryable(err error) bool {
	var temp interface{ Temporary() bool }
	if errors.As(err, &temp) && temp.Temporary() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
