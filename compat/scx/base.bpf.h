/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: the basics every BPF program needs.
 *
 * Our own small replacement for the parts of libbpf's bpf_helpers.h and
 * bpf_core_read.h that the schedulers use, so that building an object needs
 * nothing but clang, vmlinux/vmlinux.h and this directory (no libbpf headers,
 * whose version would otherwise leak into the objects).
 *
 * Include after vmlinux.h (scx/common.bpf.h does both).
 */
#ifndef SCXPACK_BASE_BPF_H
#define SCXPACK_BASE_BPF_H

/* --- ELF placement ------------------------------------------------------ */

/* Put a program, map or variable in the named ELF section. */
#define SEC(name) __attribute__((section(name), used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define __noinline __attribute__((noinline))
#define __weak __attribute__((weak))

/* Kernel symbol extern (kfunc or variable), resolved by libbpf at open. */
#define __ksym __attribute__((section(".ksyms")))
/* Kconfig extern (CONFIG_*, LINUX_KERNEL_VERSION), filled by libbpf. */
#define __kconfig __attribute__((section(".kconfig")))

/* BTF-defined map attributes, as libbpf parses them. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/*
 * True when the kernel resolved the weak __ksym extern @sym.
 *
 * For a weak extern the address is loaded with an ld_imm64 that libbpf sets
 * to 0 when the kernel lacks the symbol (or its prototype does not match);
 * the verifier then knows the branch is dead and never checks the guarded
 * call. For a strong extern the compiler folds the test to true.
 */
#define bpf_ksym_exists(sym) (!!(sym))

/* --- CO-RE ------------------------------------------------------------- */

/*
 * Field-info kinds of __builtin_preserve_field_info() (LLVM's BPF CO-RE
 * ABI, the same numbers libbpf's relocation code uses).
 */
#define SCX_CORE_FIELD_BYTE_OFFSET 0
#define SCX_CORE_FIELD_EXISTS 2
#define SCX_CORE_FIELD_BYTE_SIZE 1

/*
 * 1 if the running kernel's struct has the member named by the expression
 * (e.g. bpf_core_field_exists(ei->flags)), 0 otherwise. Resolved by libbpf
 * at load time; guard every access to a member old kernels lack with it.
 */
#define bpf_core_field_exists(field) \
	__builtin_preserve_field_info(field, SCX_CORE_FIELD_EXISTS)

/* --- helpers (stable UAPI ids, see enum bpf_func_id) -------------------- */

static void *(*const bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*const bpf_map_update_elem)(void *map, const void *key,
					 const void *value, u64 flags) = (void *)2;
static u64 (*const bpf_ktime_get_ns)(void) = (void *)5;
static u32 (*const bpf_get_prandom_u32)(void) = (void *)7;
static u32 (*const bpf_get_smp_processor_id)(void) = (void *)8;
static long (*const bpf_probe_read_kernel_str)(void *dst, u32 size,
					       const void *unsafe_ptr) = (void *)115;
static void *(*const bpf_task_storage_get)(void *map, struct task_struct *task,
					   void *value, u64 flags) = (void *)156;
static long (*const bpf_task_storage_delete)(void *map,
					     struct task_struct *task) = (void *)157;

/* --- small utilities ----------------------------------------------------- */

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() asm volatile("" ::: "memory")
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, val) (*(volatile typeof(x) *)&(x) = (val))
#define ARRAY_SIZE(arr) (sizeof(arr) / sizeof((arr)[0]))

#define SCX_NSEC_PER_USEC 1000ULL
#define SCX_NSEC_PER_SEC 1000000000ULL

/* errno values returned by callbacks (no libc headers in BPF). */
#define SCX_ENOMEM 12
#define SCX_EBUSY 16

/*
 * Define the .rodata slot of the sched_ext enumerator @name (see
 * scx/enums.bpf.h for the loader contract). Use it before any
 * "#define name __name" that redirects the bare name to the slot.
 */
#define SCX_ENUM_SLOT(name) const volatile u64 __##name __weak = (u64)(name);

/* Wrap-safe "a is earlier than b" for u64 clocks and virtual times. */
static __always_inline bool scx_time_before(u64 a, u64 b)
{
	return (s64)(a - b) < 0;
}

/*
 * Argument counting and pasting used by the printf-like and struct_ops
 * macros (up to 7 arguments).
 */
#define ___scx_nth(_0, _1, _2, _3, _4, _5, _6, _7, N, ...) N
#define ___scx_narg(...) ___scx_nth(_, ##__VA_ARGS__, 7, 6, 5, 4, 3, 2, 1, 0)
#define ___scx_cat(a, b) a##b
#define ___scx_apply(fn, n) ___scx_cat(fn, n)

#endif /* SCXPACK_BASE_BPF_H */
