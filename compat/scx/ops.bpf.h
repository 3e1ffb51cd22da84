/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: defining struct_ops callbacks and the
 * struct sched_ext_ops map.
 *
 *	void BPF_STRUCT_OPS(name_enqueue, struct task_struct *p, u64 enq_flags)
 *	{ ... }
 *	s32 BPF_STRUCT_OPS_SLEEPABLE(name_init) { ... }
 *
 *	SCX_OPS_DEFINE(name_ops,
 *		       .enqueue = (void *)name_enqueue,
 *		       .init = (void *)name_init,
 *		       .name = "name");
 *
 * A struct_ops program receives its arguments as an array of u64 (ctx);
 * BPF_STRUCT_OPS generates the program `name` in section "struct_ops/name"
 * ("struct_ops.s/name" for the sleepable form) that unpacks ctx[0..n-1]
 * into the typed parameters of an inlined body.
 *
 * SCX_OPS_DEFINE puts the ops in ".struct_ops.link", so libbpf creates the
 * map with BPF_F_LINK and the loader attaches it as a bpf_link, which is what
 * sched_ext requires. The struct layout is vmlinux.h's (7.2.13); libbpf
 * copies members into the running kernel's layout by name and skips members
 * the kernel lacks only while they are zero/NULL.
 */
#ifndef SCXPACK_OPS_BPF_H
#define SCXPACK_OPS_BPF_H

#define ___scx_ctx0() ctx
#define ___scx_ctx1(a) ___scx_ctx0(), (void *)ctx[0]
#define ___scx_ctx2(a, b) ___scx_ctx1(a), (void *)ctx[1]
#define ___scx_ctx3(a, b, c) ___scx_ctx2(a, b), (void *)ctx[2]
#define ___scx_ctx4(a, b, c, d) ___scx_ctx3(a, b, c), (void *)ctx[3]
#define ___scx_ctx5(a, b, c, d, e) ___scx_ctx4(a, b, c, d), (void *)ctx[4]
#define ___scx_ctx6(a, b, c, d, e, f) ___scx_ctx5(a, b, c, d, e), (void *)ctx[5]
#define ___scx_ctx7(a, b, c, d, e, f, g) ___scx_ctx6(a, b, c, d, e, f), (void *)ctx[6]

/*
 * The unpacking passes each u64 as a pointer and lets C convert it to the
 * parameter type; -Wint-conversion is silenced for that one statement only.
 */
#define ___SCX_OPS_PROG(sec, name, args...)					\
	SEC(sec) name(unsigned long long *ctx);					\
	static __always_inline typeof(name(0))					\
	____##name(unsigned long long *ctx, ##args);				\
	typeof(name(0)) name(unsigned long long *ctx)				\
	{									\
		_Pragma("GCC diagnostic push")					\
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
		return ____##name(___scx_apply(___scx_ctx, ___scx_narg(args))(args)); \
		_Pragma("GCC diagnostic pop")					\
	}									\
	static __always_inline typeof(name(0))					\
	____##name(unsigned long long *ctx, ##args)

#define BPF_STRUCT_OPS(name, args...) \
	___SCX_OPS_PROG("struct_ops/" #name, name, ##args)
#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	___SCX_OPS_PROG("struct_ops.s/" #name, name, ##args)

#define SCX_OPS_DEFINE(__name, ...)						\
	SEC(".struct_ops.link") struct sched_ext_ops __name = {		\
		__VA_ARGS__,							\
	}

/*
 * ops.flags values valid on every kernel from 6.12 (enum scx_ops_flags of
 * 6.12.117: KEEP_BUILTIN_IDLE=1, ENQ_LAST=2, ENQ_EXITING=4,
 * SWITCH_PARTIAL=8). Newer flags come from vmlinux.h and make old kernels
 * refuse the ops (-EINVAL) unless the manifest lists them as optional.
 */
#define SCX_OPS_FLAGS_6_12 (SCX_OPS_KEEP_BUILTIN_IDLE | SCX_OPS_ENQ_LAST | \
			    SCX_OPS_ENQ_EXITING | SCX_OPS_SWITCH_PARTIAL)

#endif /* SCXPACK_OPS_BPF_H */
