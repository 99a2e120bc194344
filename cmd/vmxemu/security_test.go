package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listeningOn returns the local addresses of the listening TCP sockets on
// port, from /proc/net/tcp and /proc/net/tcp6 (Linux; hex address:port,
// state 0A = LISTEN).
func listeningOn(t *testing.T, port int) []string {
	t.Helper()
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 || fs[3] != "0A" {
				continue
			}
			if strings.HasSuffix(fs[1], fmt.Sprintf(":%04X", port)) {
				out = append(out, fs[1])
			}
		}
	}
	return out
}

// TestGDBStubListensOnLoopback: -gdb tcp::PORT (and so -s) listens on the
// loopback interface only (issue 19, "Security"; QEMU would take every
// interface): the listening socket's local address is 127.0.0.1, a
// connection to 127.0.0.1 is accepted and one to any other address of this
// host is refused.
func TestGDBStubListensOnLoopback(t *testing.T) {
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout, stderr bytes.Buffer
	go func() {
		done <- run(ctx, flat(kernel(t, spin...), "-S", "-gdb", fmt.Sprintf("tcp::%d", port)), &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("vmxemu did not end when its context was cancelled")
		}
	}()
	var conn net.Conn
	var err error
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
	}
	require.NoError(t, err, "the stub accepts a connection on 127.0.0.1 (stderr: %s)", stderr.String())
	defer conn.Close()

	if _, err := os.Stat("/proc/net/tcp"); err == nil {
		// 0100007F is 127.0.0.1 in the kernel's byte order.
		assert.Equal(t, []string{fmt.Sprintf("0100007F:%04X", port)}, listeningOn(t, port), "the listening socket is bound to 127.0.0.1 only")
	}
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	others := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		others++
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), fmt.Sprint(port)), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("the gdb stub accepted a connection on %s, not a loopback address", ipn.IP)
		}
	}
	t.Logf("checked %d non-loopback address(es) of this host", others)
}
