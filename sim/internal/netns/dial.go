package netns

import (
	"cmp"
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dialer dials from inside a network namespace: the socket is made there,
// so the connection's packets start from that host.
type Dialer struct {
	ns Handle
	d  net.Dialer
}

// NewDialer returns a dialer whose sockets are made in ns; a zero timeout
// leaves connecting to the context.
func NewDialer(ns Handle, timeout time.Duration) *Dialer {
	return &Dialer{ns: ns, d: net.Dialer{Timeout: timeout}}
}

// DialContext creates the socket inside the namespace and connects it. A
// TCP connection to an IPv4 address:port has only its socket made there
// (one system call on a thread in the namespace) and its connect waited
// for on Go's poller like any other: a thousand health checks pending at
// once hold no thread each. Anything else (UDP, names) is dialled whole
// on a thread in the namespace.
func (n *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Is4() && (network == "tcp" || network == "tcp4") {
		return n.dialTCP4(ctx, network, ap)
	}
	var c net.Conn
	err := In(n.ns, func() error {
		var err error
		c, err = n.d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func (n *Dialer) dialTCP4(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	if n.d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.d.Timeout)
		defer cancel()
	}
	var fd int
	if err := In(n.ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	}); err != nil {
		return nil, opErr(os.NewSyscallError("socket", err))
	}
	f := os.NewFile(uintptr(fd), "tcp4 to "+ap.String()) // non-blocking: on the poller
	defer f.Close()                                      // FileConn keeps a copy
	err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()})
	if err != nil && err != unix.EINPROGRESS {
		return nil, opErr(os.NewSyscallError("connect", err))
	}
	if err == unix.EINPROGRESS {
		if deadline, ok := ctx.Deadline(); ok {
			f.SetWriteDeadline(deadline)
		}
		stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
		defer stop()
		rc, err := f.SyscallConn()
		if err != nil {
			return nil, opErr(err)
		}
		// Write clears the poller's readiness before its first call, so
		// each call looks at the socket itself: a handshake that ended
		// before it is seen there, one that ends after it wakes the wait.
		var connectErr error
		if err := rc.Write(func(fd uintptr) bool {
			if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); err != nil || v != 0 {
				connectErr = os.NewSyscallError("connect", cmp.Or(err, error(unix.Errno(v))))
				return true
			}
			_, err := unix.Getpeername(int(fd))
			return err != unix.ENOTCONN // not yet connected: wait
		}); err != nil {
			if ctx.Err() == context.Canceled {
				err = ctx.Err()
			}
			return nil, opErr(err)
		}
		if connectErr != nil {
			return nil, opErr(connectErr)
		}
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, opErr(err)
	}
	return c, nil
}

// HTTPClient is an HTTP client whose connections start in ns. With
// keepAlive false every request opens a new connection.
func HTTPClient(ns Handle, timeout time.Duration, keepAlive bool) *http.Client {
	d := NewDialer(ns, timeout)
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       d.DialContext,
			DisableKeepAlives: !keepAlive,
			Proxy:             nil,
		},
	}
}

// Listen opens a TCP listener inside a namespace.
func Listen(ns Handle, addr string) (net.Listener, error) {
	var l net.Listener
	err := In(ns, func() error {
		var err error
		l, err = net.Listen("tcp4", addr)
		return err
	})
	return l, err
}
