// SPDX-License-Identifier: GPL-2.0-only
/*
 * scxpack "fair": weighted virtual-time fairness.
 *
 * Each task carries a virtual time (p->scx.dsq_vtime) that advances by the
 * CPU time it uses, scaled by 100 / weight (p->scx.weight: 100 for nice 0,
 * 1..10000 over the nice range). All runnable tasks wait in one DSQ ordered
 * by virtual time and CPUs always take the task with the smallest one, so
 * over time every task gets CPU in proportion to its weight.
 *
 * - select_cpu: a waking task that finds an idle CPU (idle-CPU selection of
 *   the kernel, through scx_compat_select_cpu_and) goes straight to it.
 * - enqueue: a task that slept does not bank unlimited credit: its vtime is
 *   raised to at least (vtime_now - one slice).
 * - dispatch: take the smallest vtime; when nothing else waits (portable)
 *   or the waiting head is not ahead of the running task (modern, using
 *   scx_bpf_dsq_peek), the previous task keeps the CPU for another slice.
 * - charging: the slice consumed since the last refill, scaled by weight,
 *   is added at refill time and when the task stops.
 *
 * Variants (same source, see fair.json):
 *   fair-modern.bpf.o    -DSCX_BASELINE=619 -DFAIR_MODERN: the 6.19 API
 *                        (scx_bpf_task_set_slice, scx_bpf_task_set_dsq_vtime,
 *                        scx_bpf_dsq_peek, dsq_insert___v2, args-struct
 *                        kfuncs) is called strongly; loads on 6.19+ only.
 *   fair-portable.bpf.o  SCX_BASELINE=612: everything newer than 6.12 is
 *                        weak and picked at run time; loads on 6.12+.
 */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

/* Parameters: .rodata, set by the loader before load (see fair.json). */

/* Time slice in microseconds; 0 = the kernel's SCX_SLICE_DFL (20 ms). */
const volatile u64 slice_us = 5000;

/* The shared vtime-ordered queue. */
#define FAIR_DSQ 0

/* Weight of a nice-0 task (sched_ext scales weights to 1..10000). */
#define FAIR_WEIGHT_DFL 100

/* Largest virtual time a task has started running with (monotonic). */
u64 vtime_now;

static __always_inline u64 fair_slice_ns(void)
{
	return slice_us ? slice_us * SCX_NSEC_PER_USEC : SCX_SLICE_DFL;
}

/* @ns of CPU time in virtual time: ns * 100 / weight. */
static __always_inline u64 fair_scale(const struct task_struct *p, u64 ns)
{
	u32 weight = p->scx.weight;

	if (!weight)
		weight = FAIR_WEIGHT_DFL;
	return ns * FAIR_WEIGHT_DFL / weight;
}

/*
 * CPU time used since @p's slice was last set to fair_slice_ns(). A slice
 * the kernel refilled with its own default can exceed ours: count 0 then.
 */
static __always_inline u64 fair_used_ns(const struct task_struct *p)
{
	u64 full = fair_slice_ns(), left = p->scx.slice;

	return left >= full ? 0 : full - left;
}

/* Charge @p for the part of its slice it used. */
static __always_inline void fair_charge(struct task_struct *p)
{
	scx_compat_task_set_dsq_vtime(p, p->scx.dsq_vtime + fair_scale(p, fair_used_ns(p)));
}

static __always_inline bool fair_task_queued(const struct task_struct *p)
{
	return p->scx.flags & SCX_TASK_QUEUED;
}

s32 BPF_STRUCT_OPS(fair_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	s32 cpu;

	cpu = scx_compat_select_cpu_and(p, prev_cpu, wake_flags, p->cpus_ptr, 0);
	if (cpu >= 0) {
		/* An idle CPU was claimed for @p: run there right away. */
		scx_compat_dsq_insert(p, SCX_DSQ_LOCAL, fair_slice_ns(), 0);
		return cpu;
	}
	return prev_cpu;
}

void BPF_STRUCT_OPS(fair_enqueue, struct task_struct *p, u64 enq_flags)
{
	u64 vtime = p->scx.dsq_vtime;
	u64 floor = vtime_now - fair_slice_ns();

	/* Sleeping does not bank more than one slice of credit. */
	if (scx_time_before(vtime, floor))
		vtime = floor;

	scx_compat_dsq_insert_vtime(p, FAIR_DSQ, fair_slice_ns(), vtime, enq_flags);
}

#ifdef FAIR_MODERN
/*
 * 6.19+: keep @prev on the CPU when the head of the queue would not run
 * before it anyway (saves a round trip through the DSQ).
 */
static __always_inline bool fair_prev_is_first(struct task_struct *prev)
{
	struct task_struct *head = scx_bpf_dsq_peek(FAIR_DSQ);
	u64 prev_vtime;

	if (!head)
		return true;
	prev_vtime = prev->scx.dsq_vtime + fair_scale(prev, fair_used_ns(prev));
	return scx_time_before(prev_vtime, head->scx.dsq_vtime);
}
#else
static __always_inline bool fair_prev_is_first(struct task_struct *prev)
{
	return false;
}
#endif

/* Let @prev run one more slice on this CPU. */
static __always_inline void fair_keep_prev(struct task_struct *prev)
{
	fair_charge(prev);
	scx_compat_task_set_slice(prev, fair_slice_ns());
}

void BPF_STRUCT_OPS(fair_dispatch, s32 cpu, struct task_struct *prev)
{
	bool prev_queued = prev && fair_task_queued(prev);

	if (prev_queued && fair_prev_is_first(prev)) {
		fair_keep_prev(prev);
		return;
	}
	if (scx_compat_dsq_move_to_local(FAIR_DSQ))
		return;
	/* Nothing else to run: @prev continues with a fresh slice. */
	if (prev_queued)
		fair_keep_prev(prev);
}

void BPF_STRUCT_OPS(fair_running, struct task_struct *p)
{
	u64 vtime = p->scx.dsq_vtime;

	if (scx_time_before(vtime_now, vtime))
		vtime_now = vtime;
}

void BPF_STRUCT_OPS(fair_stopping, struct task_struct *p, bool runnable)
{
	fair_charge(p);
}

void BPF_STRUCT_OPS(fair_enable, struct task_struct *p)
{
	/* A task entering sched_ext starts level with the others. */
	scx_compat_task_set_dsq_vtime(p, vtime_now);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(fair_init)
{
	return scx_bpf_create_dsq(FAIR_DSQ, -1);
}

void BPF_STRUCT_OPS(fair_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(ei);
}

SCX_OPS_DEFINE(fair_ops,
	       .select_cpu = (void *)fair_select_cpu,
	       .enqueue = (void *)fair_enqueue,
	       .dispatch = (void *)fair_dispatch,
	       .running = (void *)fair_running,
	       .stopping = (void *)fair_stopping,
	       .enable = (void *)fair_enable,
	       .init = (void *)fair_init,
	       .exit = (void *)fair_exit,
	       .name = "scxpack_fair");
