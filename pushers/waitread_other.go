//go:build !linux

package pushers

import (
	"net"
	"syscall"
)

// rawConnOf: elsewhere the read loop blocks in gorilla (waitread_linux.go).
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) (bool, error) { return false, nil }

func writeNB(syscall.RawConn, []byte) (int, error) { return 0, nil }
