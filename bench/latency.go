package bench

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nlbsim/nlbsim/topology"
)

// warmup connections are made before the timed ones, so that neighbour
// entries and routes are resolved and the timed samples are steady.
const warmup = 20

// connectTimeout bounds one handshake: a SYN lost once is retransmitted
// after 1 s, which a sample then shows.
const connectTimeout = 5 * time.Second

// firstPackets opens samples new TCP connections, one at a time, from a
// host's namespace to dsts in turn, and times each from connect (the SYN
// leaves) until the socket is writable (the SYN-ACK arrived). Each is
// closed with a reset, so neither end keeps it in TIME_WAIT.
func firstPackets(ctx context.Context, w *topology.World, from string, dsts []netip.AddrPort, samples int) ([]time.Duration, error) {
	h, err := w.Lookup(from)
	if err != nil {
		return nil, err
	}
	type result struct {
		times []time.Duration
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters the host's namespace and is never unlocked:
		// it ends with this goroutine, so no other goroutine runs there.
		runtime.LockOSThread()
		ns, err := netns.GetFromName(h.Namespace)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			done <- result{err: fmt.Errorf("entering %s: %w", h.Namespace, err)}
			return
		}
		var times []time.Duration
		for i := range warmup + samples {
			if i%100 == 0 && ctx.Err() != nil {
				done <- result{err: ctx.Err()}
				return
			}
			dst := dsts[i%len(dsts)]
			d, err := handshake(dst)
			if err != nil {
				done <- result{err: fmt.Errorf("connection %d to %s: %w", i+1, dst, err)}
				return
			}
			if i >= warmup {
				times = append(times, d)
			}
		}
		done <- result{times: times}
	}()
	r := <-done
	return r.times, r.err
}

// percentiles gives p50 and p99 of a sample.
func percentiles(times []time.Duration) Percentiles {
	return Percentiles{P50: percentile(times, 0.50), P99: percentile(times, 0.99)}
}

// handshake opens one non-blocking TCP connection to dst from the calling
// thread's namespace and returns the time until it is established.
func handshake(dst netip.AddrPort) (time.Duration, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer func() {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Close(fd)
	}()
	sa := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	t0 := time.Now()
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		return 0, err
	}
	if err == unix.EINPROGRESS {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		for {
			n, err := unix.Poll(pfd, int(connectTimeout/time.Millisecond))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, err
			}
			if n == 0 {
				return 0, fmt.Errorf("no SYN-ACK within %s", connectTimeout)
			}
			break
		}
	}
	d := time.Since(t0)
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return 0, err
	}
	if soErr != 0 {
		return 0, unix.Errno(soErr)
	}
	return d, nil
}

// percentile is the nearest-rank percentile of times, in milliseconds.
func percentile(times []time.Duration, p float64) float64 {
	if len(times) == 0 {
		return 0
	}
	s := slices.Clone(times)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return ms(s[max(i, 0)])
}
