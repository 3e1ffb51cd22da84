// SPDX-License-Identifier: GPL-2.0-only
/*
 * scxpack "relay": a hybrid scheduler whose decisions are made in user
 * space by `scxpack-relay` (src/bin/scxpack-relay.rs).
 *
 * The BPF half relays: ops.enqueue pushes every runnable task (pid, weight,
 * CPU time used so far, time stamp) to the `queued` queue map; the user half
 * pops them, orders them by weighted virtual time, picks each one's slice
 * and pushes its decisions to the `dispatched` queue map; ops.dispatch pops
 * those and inserts each task, with the slice user space chose, into the
 * local DSQ of the CPU it is queued on (the kernel wakes that CPU if it is
 * idle, and falls back to the global DSQ if the task may not run there).
 * A shared DSQ would not do: a CPU only takes from it what it may run, so
 * a per-CPU kthread would wait there until its own idle CPU happened to
 * wake.
 *
 * Safety nets, all kernel-side:
 * - The user half's own threads (tgid `user_tgid`, set before load) never go
 *   through user space: they go straight to the global DSQ, so the user
 *   half cannot starve itself.
 * - User space writes a heartbeat (CLOCK_MONOTONIC ns) into `heartbeat`
 *   every round. When it is older than `timeout_ms` (or was never written:
 *   `scxpack run --force relay`), or `queued` is full, tasks are dispatched
 *   kernel-side (global DSQ, default slice).
 * - Every task handed to user space is also remembered in `pending` until
 *   its decision comes back. When user space is behind, ops.dispatch
 *   dispatches those kernel-side too, including the ones user space had
 *   already popped (a user half stopped mid-round holds them). Any CPU
 *   that looks for work runs ops.dispatch, and every wakeup leads there
 *   (the kernel's own periodic work included); a timer also kicks an idle
 *   CPU every timeout_ms so that it happens soon on a quiet machine.
 *   Nothing waits on a user half that is stopped or behind. (A
 *   shell that stops the user half and then forks would otherwise wait
 *   for its child forever, and the kernel's watchdog would eject us.)
 * - The struct_ops link belongs to the user-half process: when it dies the
 *   kernel detaches the scheduler and returns every task to the fair class.
 *
 * Portable: only kfuncs every sched_ext kernel has (6.12 on), the insert
 * and move verbs through the compat shims, queue maps (3.19+). Built twice:
 * with the timer, and with -DRELAY_NO_TIMER for PREEMPT_RT kernels, whose
 * verifier refuses bpf_timer (there the rescue waits for the next wakeup).
 */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

/* Helpers (stable UAPI ids of enum bpf_func_id) compat/scx does not declare. */
static long (*const bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static long (*const bpf_map_push_elem)(void *map, const void *value, u64 flags) = (void *)87;
static long (*const bpf_map_pop_elem)(void *map, void *value) = (void *)88;
static long (*const bpf_for_each_map_elem)(void *map, void *callback_fn, void *callback_ctx,
					   u64 flags) = (void *)164;
#ifndef RELAY_NO_TIMER
static long (*const bpf_timer_init)(struct bpf_timer *timer, void *map, u64 flags) = (void *)169;
static long (*const bpf_timer_set_callback)(struct bpf_timer *timer, void *callback_fn) = (void *)170;
static long (*const bpf_timer_start)(struct bpf_timer *timer, u64 nsecs, u64 flags) = (void *)171;
#endif
/* The timer's clock (uapi/linux/time.h). */
#define RELAY_CLOCK_MONOTONIC 1
#define RELAY_ENOENT 2

/* Generic kfuncs every kernel with sched_ext has (6.2+). */
struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

/* Parameters: .rodata, set by the user half before load (see relay.json). */

/* Thread group of the user half: dispatched directly, never queued. */
const volatile s32 user_tgid = 0;
/* User space is behind when its heartbeat is older than this (ms). */
const volatile u64 timeout_ms = 250;

/* Entries of each queue map: what user space may fall behind by. */
#define RELAY_QUEUE_LEN 4096
/* Decisions or stale entries handled per ops.dispatch call. */
#define RELAY_BATCH 32

/* BPF -> user space: a task became runnable. Layout shared with the user half. */
struct relay_task {
	s32 pid;
	u32 weight;		/* p->scx.weight: 100 at nice 0 */
	u64 sum_exec_ns;	/* CPU time the task used so far */
	u64 enqueued_ns;	/* bpf_ktime_get_ns() at ops.enqueue */
};

/* User space -> BPF: run this task for this long. */
struct relay_dispatch {
	s32 pid;
	u32 pad;
	u64 slice_ns;
	u64 enqueued_ns;	/* copied from relay_task: round-trip time */
};

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, RELAY_QUEUE_LEN);
	__type(value, struct relay_task);
} queued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, RELAY_QUEUE_LEN);
	__type(value, struct relay_dispatch);
} dispatched SEC(".maps");

/* Tasks handed to user space whose decision has not come back: pid -> 0. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RELAY_QUEUE_LEN);
	__type(key, s32);
	__type(value, u64);
} pending SEC(".maps");

#ifndef RELAY_NO_TIMER
/* The rescue timer: while user space is behind, kicks a CPU into ops.dispatch. */
struct relay_timer {
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct relay_timer);
} rescue_timer SEC(".maps");
#endif

/* One u64: the user half's last heartbeat, CLOCK_MONOTONIC ns. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} heartbeat SEC(".maps");

/* Statistics, read by the user half (layout shared with it). */
struct relay_stats {
	u64 nr_enqueued;		/* tasks handed to user space */
	u64 nr_user_dispatched;		/* tasks dispatched as user space decided */
	u64 nr_kernel_dispatched;	/* dispatched kernel-side: user space behind or queue full */
	u64 nr_user_half;		/* enqueues of the user half itself (direct) */
	u64 nr_lost;			/* decisions for tasks that had exited */
	u64 rtt_sum_ns;			/* sum of enqueue -> dispatch times of user-space decisions */
	u64 rtt_max_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct relay_stats);
} stats SEC(".maps");

/* The one stats entry (an array slot always exists; NULL only in theory). */
static __always_inline struct relay_stats *relay_stats(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

#define STAT_ADD(field, n)                                      \
	do {                                                    \
		struct relay_stats *__s = relay_stats();        \
		if (__s)                                        \
			__sync_fetch_and_add(&__s->field, (n)); \
	} while (0)

/* Whether the user half has written a heartbeat within timeout_ms. */
static __always_inline bool user_alive(void)
{
	u32 zero = 0;
	u64 *hb = bpf_map_lookup_elem(&heartbeat, &zero);
	u64 last = hb ? READ_ONCE(*hb) : 0;

	return last && bpf_ktime_get_ns() - last <= timeout_ms * 1000000ULL;
}

/* From ops.dispatch: @p to the local DSQ of the CPU it is queued on. */
static __always_inline void insert_local(struct task_struct *p, u64 slice_ns)
{
	/* A task no longer queued (it ran, or left) is ignored by the kernel. */
	scx_compat_dsq_insert(p, SCX_DSQ_LOCAL_ON | scx_bpf_task_cpu(p), slice_ns, 0);
}

static __always_inline void kernel_dispatch(struct task_struct *p, u64 enq_flags)
{
	STAT_ADD(nr_kernel_dispatched, 1);
	scx_compat_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
}

s32 BPF_STRUCT_OPS(relay_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;

	/* Only a CPU to wake; the decision itself stays with user space. */
	return scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
}

static const u64 zero_ns;

void BPF_STRUCT_OPS(relay_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct relay_task t = {};

	if (user_tgid && p->tgid == user_tgid) {
		STAT_ADD(nr_user_half, 1);
		scx_compat_dsq_insert(p, SCX_DSQ_GLOBAL, SCX_SLICE_DFL, enq_flags);
		return;
	}
	if (!user_alive()) {
		kernel_dispatch(p, enq_flags);
		return;
	}
	t.pid = p->pid;
	t.weight = p->scx.weight;
	t.sum_exec_ns = p->se.sum_exec_runtime;
	t.enqueued_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&pending, &t.pid, &zero_ns, BPF_ANY)) {
		kernel_dispatch(p, enq_flags);
		return;
	}
	if (bpf_map_push_elem(&queued, &t, 0)) {
		bpf_map_delete_elem(&pending, &t.pid);
		kernel_dispatch(p, enq_flags);
		return;
	}
	STAT_ADD(nr_enqueued, 1);
}

/* Inserts the task of one user-space decision where it is queued. */
static __always_inline void apply(struct relay_dispatch *d)
{
	struct task_struct *p = bpf_task_from_pid(d->pid);
	struct relay_stats *s;
	u64 rtt;

	bpf_map_delete_elem(&pending, &d->pid);
	if (!p) {
		STAT_ADD(nr_lost, 1);
		return;
	}
	insert_local(p, d->slice_ns);
	bpf_task_release(p);
	rtt = bpf_ktime_get_ns() - d->enqueued_ns;
	s = relay_stats();
	if (!s)
		return;
	__sync_fetch_and_add(&s->nr_user_dispatched, 1);
	__sync_fetch_and_add(&s->rtt_sum_ns, rtt);
	if (rtt > s->rtt_max_ns)
		s->rtt_max_ns = rtt;	/* racy maximum: a statistic */
}

/* What one ops.dispatch call may still insert (dispatch_max_batch). */
struct rescue_ctx {
	u32 left;
};

/* Dispatches one task user space holds kernel-side; stops at the budget. */
static long rescue_one(struct bpf_map *map, s32 *pid, u64 *val, struct rescue_ctx *ctx)
{
	struct task_struct *p;

	if (!ctx->left)
		return 1;
	bpf_map_delete_elem(map, pid);
	p = bpf_task_from_pid(*pid);
	if (!p)
		return 0;
	ctx->left--;
	STAT_ADD(nr_kernel_dispatched, 1);
	insert_local(p, SCX_SLICE_DFL);
	bpf_task_release(p);
	return 0;
}

/*
 * User space is behind: dispatch kernel-side what waits for it, and drop
 * its stale copies in `queued` (`pending` has them all).
 */
static __always_inline void rescue(u32 left)
{
	struct rescue_ctx ctx = { .left = left };
	struct relay_task t;
	int i;

	bpf_for_each_map_elem(&pending, rescue_one, &ctx, 0);
	for (i = 0; i < RELAY_BATCH; i++)
		if (bpf_map_pop_elem(&queued, &t))
			break;
}

void BPF_STRUCT_OPS(relay_dispatch, s32 cpu, struct task_struct *prev)
{
	struct relay_dispatch d;
	u32 left = RELAY_BATCH;

	while (left && !bpf_map_pop_elem(&dispatched, &d)) {
		apply(&d);
		left--;
	}
	if (!user_alive())
		rescue(left);
}

#ifndef RELAY_NO_TIMER
/*
 * Every timeout_ms: while user space is behind, kicks this CPU, if idle,
 * into ops.dispatch. Where the kick is unavailable (7.1.13, see
 * scx/kfuncs.bpf.h) the next CPU that looks for work does the rescue: any
 * wakeup leads there, the kernel's own periodic work included.
 */
static int rescue_tick(void *map, u32 *key, struct relay_timer *t)
{
	if (!user_alive())
		scx_compat_kick_cpu(bpf_get_smp_processor_id(), SCX_KICK_IDLE);
	bpf_timer_start(&t->timer, timeout_ms * 1000000ULL, 0);
	return 0;
}
#endif

s32 BPF_STRUCT_OPS_SLEEPABLE(relay_init)
{
#ifndef RELAY_NO_TIMER
	u32 zero = 0;
	struct relay_timer *t = bpf_map_lookup_elem(&rescue_timer, &zero);

	if (!t)
		return -RELAY_ENOENT;
	bpf_timer_init(&t->timer, &rescue_timer, RELAY_CLOCK_MONOTONIC);
	bpf_timer_set_callback(&t->timer, rescue_tick);
	return bpf_timer_start(&t->timer, timeout_ms * 1000000ULL, 0);
#else
	return 0;
#endif
}

void BPF_STRUCT_OPS(relay_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(ei);
}

SCX_OPS_DEFINE(relay_ops,
	       .select_cpu = (void *)relay_select_cpu,
	       .enqueue = (void *)relay_enqueue,
	       .dispatch = (void *)relay_dispatch,
	       .init = (void *)relay_init,
	       .exit = (void *)relay_exit,
	       .name = "scxpack_relay");
