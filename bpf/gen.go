// Package bpf holds meshbench's BPF programs: the C sources (one file per
// program family), the vendored libbpf headers and vmlinux.h under headers/,
// and the bpf2go invocations that compile them. The generated Go bindings and
// objects are committed in the subpackages, so building meshbench needs no
// clang:
//
//   - pathprobe: tp_btf tracepoints counting packet-path events per network
//     namespace and device, and tracing the ordered path of one request;
//   - redirect: the eBPF datapath (cgroup connect4/getsockopt, sockops,
//     sk_msg, tc bpf_redirect_peer).
//
// Regenerate with `make generate` (go generate ./bpf/...) after changing a
// C file; TestGeneratedUpToDate fails while the committed output is stale.
// The committed objects are built with clang-14, which the go:generate lines
// name so that every regeneration uses the same compiler.
//
// headers/vmlinux.h is `bpftool btf dump file /sys/kernel/btf/vmlinux format c`
// of a Linux 6.18 kernel (CO-RE relocates field accesses on other kernels);
// headers/bpf/ holds libbpf 1.1.2's bpf_helpers.h, bpf_helper_defs.h,
// bpf_endian.h and bpf_tracing.h. -nostdinc keeps the build from reading the
// machine's own headers.
package bpf

//go:generate go tool bpf2go -cc clang-14 -target bpfel -go-package pathprobe -output-dir pathprobe -type event -type event_type -type event_context probe pathprobe.c -- -O2 -g -Wall -Werror -nostdinc -I./headers
//go:generate go tool bpf2go -cc clang-14 -target bpfel -go-package redirect -output-dir redirect redirect redirect.c -- -O2 -g -Wall -Werror -nostdinc -I./headers
