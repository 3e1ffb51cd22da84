/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: sched_ext enum values read at run time.
 *
 * sched_ext enum values are not ABI: 6.19 renumbered SCX_ENQ_HEAD
 * (0x10 -> 0x10000) and SCX_ENQ_CPU_SELECTED (0x400 -> 0x100000), 7.1 added
 * SCX_ENQ_IMMED. An object compiled once against one vmlinux.h must not bake
 * these in. Every enumerator listed here therefore gets a read-only slot
 *
 *	const volatile u64 __SCX_<ENUMERATOR> __weak = <value in vmlinux.h>;
 *
 * in the object's .rodata, and the bare name is redefined to read that slot:
 *
 *	#define SCX_<ENUMERATOR> __SCX_<ENUMERATOR>
 *
 * Contract with the loader (documented in compat/README.md): before load it
 * writes EVERY .rodata variable whose name starts with "__SCX_" with the
 * value of the enumerator of the same name (without the two leading
 * underscores) found in the running kernel's BTF, as a u64 (ENUM and ENUM64
 * alike), or 0 when the kernel has no such enumerator. The initial value
 * (the vmlinux.h = 7.2.13 value) only serves loaders that skip this step.
 *
 * Because .rodata is frozen at load, the verifier sees the real values and
 * prunes branches that depend on them.
 *
 * Limits: the bare names are macros from here on, so they cannot be used
 * where C needs a constant expression (case labels, static initializers,
 * the struct_ops .flags field). ops flags are not listed here on purpose:
 * they are compile-time constants of the struct_ops map and the loader masks
 * them against the kernel's enum scx_ops_flags.
 */
#ifndef SCXPACK_ENUMS_BPF_H
#define SCXPACK_ENUMS_BPF_H

/* SCX_ENUM_SLOT() is defined in scx/base.bpf.h. */

/* enum scx_public_consts */
SCX_ENUM_SLOT(SCX_SLICE_DFL)
SCX_ENUM_SLOT(SCX_SLICE_INF)

/* enum scx_dsq_id_flags */
SCX_ENUM_SLOT(SCX_DSQ_FLAG_BUILTIN)
SCX_ENUM_SLOT(SCX_DSQ_FLAG_LOCAL_ON)
SCX_ENUM_SLOT(SCX_DSQ_INVALID)
SCX_ENUM_SLOT(SCX_DSQ_GLOBAL)
SCX_ENUM_SLOT(SCX_DSQ_LOCAL)
SCX_ENUM_SLOT(SCX_DSQ_LOCAL_ON)
SCX_ENUM_SLOT(SCX_DSQ_LOCAL_CPU_MASK)

/* enum scx_enq_flags */
SCX_ENUM_SLOT(SCX_ENQ_WAKEUP)
SCX_ENUM_SLOT(SCX_ENQ_HEAD)
SCX_ENUM_SLOT(SCX_ENQ_CPU_SELECTED)
SCX_ENUM_SLOT(SCX_ENQ_PREEMPT)
SCX_ENUM_SLOT(SCX_ENQ_IMMED)
SCX_ENUM_SLOT(SCX_ENQ_REENQ)
SCX_ENUM_SLOT(SCX_ENQ_LAST)

/* enum scx_deq_flags */
SCX_ENUM_SLOT(SCX_DEQ_SLEEP)

/* enum scx_kick_flags */
SCX_ENUM_SLOT(SCX_KICK_IDLE)
SCX_ENUM_SLOT(SCX_KICK_PREEMPT)
SCX_ENUM_SLOT(SCX_KICK_WAIT)

/* enum scx_pick_idle_cpu_flags */
SCX_ENUM_SLOT(SCX_PICK_IDLE_CORE)
SCX_ENUM_SLOT(SCX_PICK_IDLE_IN_NODE)

/* enum scx_wake_flags */
SCX_ENUM_SLOT(SCX_WAKE_FORK)
SCX_ENUM_SLOT(SCX_WAKE_TTWU)
SCX_ENUM_SLOT(SCX_WAKE_SYNC)

/* enum scx_ent_flags (bits of p->scx.flags) */
SCX_ENUM_SLOT(SCX_TASK_QUEUED)

#define SCX_SLICE_DFL __SCX_SLICE_DFL
#define SCX_SLICE_INF __SCX_SLICE_INF

#define SCX_DSQ_FLAG_BUILTIN __SCX_DSQ_FLAG_BUILTIN
#define SCX_DSQ_FLAG_LOCAL_ON __SCX_DSQ_FLAG_LOCAL_ON
#define SCX_DSQ_INVALID __SCX_DSQ_INVALID
#define SCX_DSQ_GLOBAL __SCX_DSQ_GLOBAL
#define SCX_DSQ_LOCAL __SCX_DSQ_LOCAL
#define SCX_DSQ_LOCAL_ON __SCX_DSQ_LOCAL_ON
#define SCX_DSQ_LOCAL_CPU_MASK __SCX_DSQ_LOCAL_CPU_MASK

#define SCX_ENQ_WAKEUP __SCX_ENQ_WAKEUP
#define SCX_ENQ_HEAD __SCX_ENQ_HEAD
#define SCX_ENQ_CPU_SELECTED __SCX_ENQ_CPU_SELECTED
#define SCX_ENQ_PREEMPT __SCX_ENQ_PREEMPT
#define SCX_ENQ_IMMED __SCX_ENQ_IMMED
#define SCX_ENQ_REENQ __SCX_ENQ_REENQ
#define SCX_ENQ_LAST __SCX_ENQ_LAST

#define SCX_DEQ_SLEEP __SCX_DEQ_SLEEP

#define SCX_KICK_IDLE __SCX_KICK_IDLE
#define SCX_KICK_PREEMPT __SCX_KICK_PREEMPT
#define SCX_KICK_WAIT __SCX_KICK_WAIT

#define SCX_PICK_IDLE_CORE __SCX_PICK_IDLE_CORE
#define SCX_PICK_IDLE_IN_NODE __SCX_PICK_IDLE_IN_NODE

#define SCX_WAKE_FORK __SCX_WAKE_FORK
#define SCX_WAKE_TTWU __SCX_WAKE_TTWU
#define SCX_WAKE_SYNC __SCX_WAKE_SYNC

#define SCX_TASK_QUEUED __SCX_TASK_QUEUED

#endif /* SCXPACK_ENUMS_BPF_H */
