// SPDX-License-Identifier: GPL-2.0-only
/*
 * scxpack "fifo": one global first-in first-out queue.
 *
 * Every runnable task goes to the tail of one shared DSQ; every CPU that
 * needs work takes the head. A waking task that finds an idle CPU (the
 * kernel's default idle-CPU selection) is handed straight to that CPU. Tasks
 * run for `slice_us` and then go back to the tail: round-robin over all
 * tasks of the system, no priorities, no weights.
 *
 * It is the baseline that must load on every sched_ext kernel, 6.12 LTS
 * included: it uses only kfuncs every such kernel has, through the shims of
 * scx/compat.bpf.h, and no ops flag.
 */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

/* Parameters: .rodata, set by the loader before load (see fifo.json). */

/* Time slice in microseconds; 0 = the kernel's SCX_SLICE_DFL (20 ms). */
const volatile u64 slice_us = 0;

/* The shared queue (a user DSQ; ids below 2^63 are ours to choose). */
#define FIFO_DSQ 0

static __always_inline u64 fifo_slice_ns(void)
{
	return slice_us ? slice_us * SCX_NSEC_PER_USEC : SCX_SLICE_DFL;
}

s32 BPF_STRUCT_OPS(fifo_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle)
		scx_compat_dsq_insert(p, SCX_DSQ_LOCAL, fifo_slice_ns(), 0);
	return cpu;
}

void BPF_STRUCT_OPS(fifo_enqueue, struct task_struct *p, u64 enq_flags)
{
	scx_compat_dsq_insert(p, FIFO_DSQ, fifo_slice_ns(), enq_flags);
}

void BPF_STRUCT_OPS(fifo_dispatch, s32 cpu, struct task_struct *prev)
{
	scx_compat_dsq_move_to_local(FIFO_DSQ);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(fifo_init)
{
	return scx_bpf_create_dsq(FIFO_DSQ, -1);
}

void BPF_STRUCT_OPS(fifo_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(ei);
}

SCX_OPS_DEFINE(fifo_ops,
	       .select_cpu = (void *)fifo_select_cpu,
	       .enqueue = (void *)fifo_enqueue,
	       .dispatch = (void *)fifo_dispatch,
	       .init = (void *)fifo_init,
	       .exit = (void *)fifo_exit,
	       .name = "scxpack_fifo");
