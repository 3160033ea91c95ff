package pushers

import (
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// rawConnOf returns the socket under nc (the role's listener wrapper
// passes it on), or nil when it is not a plain socket (an in-process pipe,
// TLS): then the read loop blocks in gorilla and every write may block,
// as usual.
func rawConnOf(nc net.Conn) syscall.RawConn {
	c, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNB writes b to the socket as far as it takes it without blocking:
// n < len(b) with a nil error means the socket's buffer is full.
func writeNB(rc syscall.RawConn, b []byte) (n int, err error) {
	st := nbStates.Get().(*nbState)
	st.b, st.n, st.err = b, 0, nil
	werr := rc.Write(st.fn)
	n, err = st.n, st.err
	st.b = nil
	nbStates.Put(st)
	if err == nil {
		err = werr
	}
	return n, err
}

// nbState is one writeNB's state with its callback made once, so a write
// allocates nothing.
type nbState struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var nbStates = sync.Pool{New: func() any {
	st := &nbState{}
	st.fn = func(fd uintptr) bool {
		for st.n < len(st.b) {
			m, e := syscall.Write(int(fd), st.b[st.n:])
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				if e != syscall.EAGAIN {
					st.err = e
				}
				return true
			}
			st.n += m
		}
		return true
	}
	return st
}}

// emptyPong is a client's pong with no payload, as the answer to the
// pusher's empty pings: FIN and opcode pong, masked, length 0, a 4-byte mask.
const emptyPongLen = 6

// waitReadable parks until the socket has bytes to read (or EOF, an
// error, or the read deadline) without reading them, except an empty pong
// at the front, which it takes off the socket and reports (pong true):
// the caller is at a message boundary with nothing buffered, so the next
// bytes start a frame. It is called from a shallow frame and stays
// shallow (see Conn.readLoop).
func waitReadable(rc syscall.RawConn) (pong bool, err error) {
	var b [emptyPongLen]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), emptyPongLen,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EAGAIN {
			return false
		}
		if errno == 0 && n == emptyPongLen && b[0] == 0x8A && b[1] == 0x80 {
			n, _, errno = syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), emptyPongLen,
				syscall.MSG_DONTWAIT, 0, 0)
			pong = errno == 0 && n == emptyPongLen
		}
		return true
	})
	return pong, err
}
