// Package conformance cross-checks vmxemu against independent oracles:
// user-mode integer instructions executed natively on real CPUs (traces
// recorded with a small C helper and checked into testdata/ named after the
// CPU that recorded them), and Capstone as a decoder oracle (subpackage
// capstone, behind the "capstone" build tag). Nothing imports it; its tests
// are the product. See README.md for how to record a trace on a new machine,
// the trace format and the allow-lists.
package conformance
