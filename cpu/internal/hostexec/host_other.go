//go:build !amd64

package hostexec

// Insts returns nil: the oracle needs an amd64 host.
func Insts() []Inst { return nil }

// Available reports whether the host can run instructions of this table.
func Available() bool { return false }

// Vendor returns "" off amd64.
func Vendor() string { return "" }

// Signature returns 0 off amd64.
func Signature() uint32 { return 0 }

// Has reports false off amd64.
func Has(f string) bool { return false }
