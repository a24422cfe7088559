// Package vmtier is the full-kernel test tier (docs/vmtier.md): its
// test, TestFullKernel, boots Debian's stock kernel under QEMU (software
// emulation, no KVM needed) with an initramfs holding the e2e test
// binary, the network modules and a small init (vminit), runs the e2e
// tests that need what this machine's kernel lacks (802.1Q, GRE) inside
// the VM — the same sandbox code, several simulated hosts as namespaces
// in the VM — and reports each in-VM test as a subtest.
//
// The package's code builds the initramfs (Layout, Archive), finds the
// kernel (FindKernel) and runs QEMU (VM); the protocol between host and
// init is in vmproto, the module index reader in kmod.
package vmtier
