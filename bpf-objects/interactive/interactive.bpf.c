// SPDX-License-Identifier: GPL-2.0-only
/*
 * scxpack "interactive": latency first.
 *
 * Tasks that sleep often and run briefly once awake (editors, shells,
 * compositors, audio threads) are "latency-critical": they wait in their own
 * queue, which every CPU serves before the batch queue, and on wakeup they
 * may preempt a CPU that runs a batch task. Everything else shares a batch
 * queue in round-robin order.
 *
 * Per task (BPF task storage) it tracks:
 *   burst          CPU time used since the last wakeup,
 *   avg_burst      moving average of completed bursts (runtime per wakeup),
 *   avg_wake_gap   moving average of the time between two wakeups.
 * A task is latency-critical while avg_burst <= max_burst_us, its current
 * burst <= max_burst_us, and it wakes at least min_wake_hz times a second.
 * Averages are EWMAs with weight 1/4 for the newest sample. New tasks start
 * as batch; their first measured burst and wakeup gap replace the start
 * values (rather than being averaged into them), so a thread that sleeps and
 * wakes like an interactive one qualifies on its second wakeup. Averaged in,
 * the start values took about eight wakeups to wear off, and each of those
 * wakeups waited in the batch queue behind a whole batch slice.
 *
 * Preemption (parameter `preempt`): when a latency-critical task wakes up
 * and its CPU is running a batch task, the task is queued and that CPU is
 * kicked with SCX_KICK_PREEMPT; where scx_bpf_kick_cpu cannot be used
 * (7.1.13, see compat/scx/kfuncs.bpf.h) the task is inserted directly into
 * the CPU's local DSQ with SCX_ENQ_PREEMPT instead.
 *
 * Starvation guard: after 3 dispatches in a row on a CPU that served the
 * latency queue, the next one serves the batch queue first, so a crowd of
 * latency-critical tasks cannot starve batch ones. It counts runs of
 * latency dispatches only: a lone task waking into a CPU busy with batch
 * work is never made to wait behind a batch slice (counting every dispatch,
 * as before, sent one such wakeup in four behind a whole batch slice: p99
 * wakeup latency about the batch slice, BENCHMARKS.md, issue #15).
 */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

/* Parameters: .rodata, set by the loader before load (see interactive.json). */

/* Slice of batch tasks, microseconds; 0 = SCX_SLICE_DFL (20 ms). */
const volatile u64 slice_us = 10000;
/* Slice of latency-critical tasks, microseconds. */
const volatile u64 lat_slice_us = 2000;
/* Longest average run time per wakeup of a latency-critical task, us. */
const volatile u64 max_burst_us = 2000;
/* Fewest wakeups per second of a latency-critical task; 0 = no minimum. */
const volatile u64 min_wake_hz = 10;
/* Let waking latency-critical tasks preempt batch tasks. */
const volatile bool preempt = true;

#define LAT_DSQ 0
#define BATCH_DSQ 1

/* Serve the batch queue first after this many latency dispatches in a row. */
#define LAT_IN_A_ROW_MAX 3

/* CPUs beyond this are scheduled normally but never preempted. */
#define MAX_CPUS 1024

struct task_ctx {
	u64 run_start;		/* when the task last started running, ns */
	u64 burst;		/* CPU time since the last wakeup, ns */
	u64 avg_burst;		/* EWMA of completed bursts, ns */
	u64 last_wake;		/* time of the last wakeup, ns (0: none yet) */
	u64 avg_wake_gap;	/* EWMA of the time between wakeups, ns */
	u64 measured;		/* avg_burst and avg_wake_gap hold real samples */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

struct cpu_ctx {
	u32 running_batch;	/* a batch task is on this CPU now */
	u32 lat_in_a_row;	/* dispatches in a row that served the latency queue */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

/* Statistics, readable from the .bss map. */
u64 nr_lat_enqueued, nr_batch_enqueued, nr_preempt_kick, nr_preempt_enq;

static __always_inline u64 us_to_ns(u64 us)
{
	return us * SCX_NSEC_PER_USEC;
}

static __always_inline u64 batch_slice_ns(void)
{
	return slice_us ? us_to_ns(slice_us) : SCX_SLICE_DFL;
}

static __always_inline u64 ewma(u64 avg, u64 sample)
{
	return (avg * 3 + sample) / 4;
}

static __always_inline struct task_ctx *lookup_task_ctx(struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, p, (void *)0, 0);
}

static __always_inline struct cpu_ctx *lookup_cpu_ctx(s32 cpu)
{
	u32 key = cpu;

	if (cpu < 0 || cpu >= MAX_CPUS)
		return (struct cpu_ctx *)0;
	return bpf_map_lookup_elem(&cpu_ctxs, &key);
}

static __always_inline bool is_latency_critical(const struct task_ctx *tctx)
{
	u64 limit = us_to_ns(max_burst_us);

	if (!tctx)
		return false;
	if (tctx->burst > limit || tctx->avg_burst > limit)
		return false;
	if (min_wake_hz && tctx->avg_wake_gap > SCX_NSEC_PER_SEC / min_wake_hz)
		return false;
	return true;
}

static __always_inline u64 task_slice_ns(const struct task_ctx *tctx)
{
	return is_latency_critical(tctx) ? us_to_ns(lat_slice_us) : batch_slice_ns();
}

s32 BPF_STRUCT_OPS(interactive_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	s32 cpu;

	cpu = scx_compat_select_cpu_and(p, prev_cpu, wake_flags, p->cpus_ptr, 0);
	if (cpu >= 0) {
		/* An idle CPU was claimed for @p: run there right away. */
		scx_compat_dsq_insert(p, SCX_DSQ_LOCAL, task_slice_ns(lookup_task_ctx(p)), 0);
		return cpu;
	}
	return prev_cpu;
}

/* Is @cpu running a batch task (so a latency-critical one may preempt it)? */
static __always_inline bool cpu_runs_batch(s32 cpu)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);

	return cctx && cctx->running_batch;
}

void BPF_STRUCT_OPS(interactive_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	u64 lat_slice = us_to_ns(lat_slice_us);
	s32 cpu;

	if (!is_latency_critical(tctx)) {
		__sync_fetch_and_add(&nr_batch_enqueued, 1);
		scx_compat_dsq_insert(p, BATCH_DSQ, batch_slice_ns(), enq_flags);
		return;
	}

	__sync_fetch_and_add(&nr_lat_enqueued, 1);
	cpu = scx_bpf_task_cpu(p);
	if (preempt && (enq_flags & SCX_ENQ_WAKEUP) && cpu_runs_batch(cpu)) {
		if (bpf_ksym_exists(scx_bpf_kick_cpu)) {
			scx_compat_dsq_insert(p, LAT_DSQ, lat_slice, enq_flags);
			scx_compat_kick_cpu(cpu, SCX_KICK_PREEMPT);
			__sync_fetch_and_add(&nr_preempt_kick, 1);
		} else {
			/* @p is being enqueued on @cpu's runqueue. */
			scx_compat_dsq_insert(p, SCX_DSQ_LOCAL, lat_slice,
					      enq_flags | SCX_ENQ_PREEMPT);
			__sync_fetch_and_add(&nr_preempt_enq, 1);
		}
		return;
	}
	scx_compat_dsq_insert(p, LAT_DSQ, lat_slice, enq_flags);
}

void BPF_STRUCT_OPS(interactive_dispatch, s32 cpu, struct task_struct *prev)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);

	if (!cctx) {
		if (!scx_compat_dsq_move_to_local(LAT_DSQ))
			scx_compat_dsq_move_to_local(BATCH_DSQ);
		return;
	}
	if (cctx->lat_in_a_row >= LAT_IN_A_ROW_MAX &&
	    scx_compat_dsq_move_to_local(BATCH_DSQ)) {
		cctx->lat_in_a_row = 0;
		return;
	}
	if (scx_compat_dsq_move_to_local(LAT_DSQ)) {
		cctx->lat_in_a_row++;
		return;
	}
	if (scx_compat_dsq_move_to_local(BATCH_DSQ))
		cctx->lat_in_a_row = 0;
}

void BPF_STRUCT_OPS(interactive_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx;
	u64 now;

	if (!(enq_flags & SCX_ENQ_WAKEUP))
		return;
	tctx = lookup_task_ctx(p);
	if (!tctx)
		return;

	/*
	 * A wakeup closes the previous burst. The first samples replace the
	 * start values (see the top of this file).
	 */
	now = scx_compat_now();
	if (tctx->last_wake) {
		tctx->avg_burst = tctx->measured ? ewma(tctx->avg_burst, tctx->burst) : tctx->burst;
		if (now > tctx->last_wake)
			tctx->avg_wake_gap = tctx->measured ?
				ewma(tctx->avg_wake_gap, now - tctx->last_wake) :
				now - tctx->last_wake;
		tctx->measured = 1;
	}
	tctx->burst = 0;
	tctx->last_wake = now;
}

void BPF_STRUCT_OPS(interactive_running, struct task_struct *p)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	struct cpu_ctx *cctx = lookup_cpu_ctx(scx_bpf_task_cpu(p));

	if (tctx)
		tctx->run_start = scx_compat_now();
	if (cctx)
		cctx->running_batch = !is_latency_critical(tctx);
}

void BPF_STRUCT_OPS(interactive_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	struct cpu_ctx *cctx = lookup_cpu_ctx(scx_bpf_task_cpu(p));
	u64 now = scx_compat_now();

	if (tctx && tctx->run_start && now > tctx->run_start)
		tctx->burst += now - tctx->run_start;
	if (cctx)
		cctx->running_batch = 0;
}

s32 BPF_STRUCT_OPS(interactive_init_task, struct task_struct *p,
		   struct scx_init_task_args *args)
{
	struct task_ctx *tctx;

	tctx = bpf_task_storage_get(&task_ctxs, p, (void *)0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tctx)
		return -SCX_ENOMEM;
	/* Start as batch: one burst over the limit, no wakeup history. */
	tctx->avg_burst = 2 * us_to_ns(max_burst_us) + 1;
	tctx->avg_wake_gap = SCX_NSEC_PER_SEC;
	return 0;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(interactive_init)
{
	s32 ret;

	ret = scx_bpf_create_dsq(LAT_DSQ, -1);
	if (ret)
		return ret;
	return scx_bpf_create_dsq(BATCH_DSQ, -1);
}

void BPF_STRUCT_OPS(interactive_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(ei);
}

SCX_OPS_DEFINE(interactive_ops,
	       .select_cpu = (void *)interactive_select_cpu,
	       .enqueue = (void *)interactive_enqueue,
	       .dispatch = (void *)interactive_dispatch,
	       .runnable = (void *)interactive_runnable,
	       .running = (void *)interactive_running,
	       .stopping = (void *)interactive_stopping,
	       .init_task = (void *)interactive_init_task,
	       .init = (void *)interactive_init,
	       .exit = (void *)interactive_exit,
	       .name = "scxpack_interactive");
