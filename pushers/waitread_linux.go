package pushers

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConnOf returns the socket under nc (through the role's listener
// wrapper), or nil when it is not a plain socket (TLS, an in-process
// pipe): then the read loop blocks in gorilla as usual.
func rawConnOf(nc net.Conn) syscall.RawConn {
	for {
		switch c := nc.(type) {
		case syscall.Conn:
			rc, err := c.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
}

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
