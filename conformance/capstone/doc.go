// Package capstone cross-checks vmxemu's instruction decoder against
// Capstone (through github.com/bnagy/gapstone and the system's
// libcapstone, Debian's 4.0.2). Everything but this comment is behind the
// "capstone" build tag, so the module builds with CGO_ENABLED=0 and
// without libcapstone:
//
//	go test -tags capstone ./conformance/...
//
// VMXEMU_CAPSTONE_FULL=1 runs the full corpus (1,000,000 byte strings)
// instead of the default 50,000. See ../README.md.
package capstone
