/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: declarations of the sched_ext kfuncs of every
 * kernel from 6.12 to 7.2.
 *
 * Every prototype below was checked against the BTF of each sched_ext kernel
 * in ../shared/kernels (6.12.117-scx, 6.16.3, 6.17.13, 6.18.15, 6.19.14,
 * 7.0.13, 7.1.13, 7.2.13). A kfunc is declared STRONG (a missing symbol
 * fails the load) only if all of these hold:
 *   - every kernel of the supported range has it with the same prototype,
 *   - it is not deprecated,
 *   - it is not one of the 7.1.13 "visible aux" kfuncs (see below).
 * Everything else is `__ksym __weak`: libbpf then resolves it to 0 when the
 * kernel lacks it, and the code must test bpf_ksym_exists() first (the
 * shims in scx/compat.bpf.h do).
 *
 * SCX_BASELINE raises the floor: an object built with -DSCX_BASELINE=619
 * (the "modern" variants) declares everything that exists unchanged on
 * 6.19..7.2 strongly, so a kernel older than 6.19 refuses it at load time,
 * and the shims compile down to direct calls.
 *
 * Flavors: libbpf drops the last "___suffix" of an extern name when it looks
 * the symbol up in the kernel. Kfuncs removed in 6.17 are declared as
 * NAME___compat, and kernel symbols whose real name already contains "___"
 * (6.19's scx_bpf_dsq_insert___v2) as NAME___compat too, so that the kernel
 * name survives the stripping.
 *
 * 7.1.13 quirk: in Debian's 7.1.13 BTF, scx_bpf_kick_cpu, scx_bpf_exit_bstr,
 * scx_bpf_get_idle_{cpu,smt}mask[_node], scx_bpf_locked_rq,
 * bpf_iter_scx_dsq_new and scx_bpf_dsq_move_to_local___v2 still carry the
 * implicit `const struct bpf_prog_aux *aux` argument in the visible
 * prototype (no NAME_impl twin was generated for them). libbpf compares
 * prototypes: a strong extern fails with "func_proto ... incompatible with
 * vmlinux", a weak one is treated as absent. They are therefore always weak
 * here, and callers need a fallback.
 */
#ifndef SCXPACK_KFUNCS_BPF_H
#define SCXPACK_KFUNCS_BPF_H

#ifndef SCX_BASELINE
#define SCX_BASELINE 612
#endif

/* __SCX_SINCE_x_y: empty (strong) when SCX_BASELINE >= x.y, else __weak. */
#if SCX_BASELINE >= 613
#define __SCX_SINCE_6_13
#else
#define __SCX_SINCE_6_13 __weak
#endif
#if SCX_BASELINE >= 614
#define __SCX_SINCE_6_14
#else
#define __SCX_SINCE_6_14 __weak
#endif
#if SCX_BASELINE >= 615
#define __SCX_SINCE_6_15
#else
#define __SCX_SINCE_6_15 __weak
#endif
#if SCX_BASELINE >= 616
#define __SCX_SINCE_6_16
#else
#define __SCX_SINCE_6_16 __weak
#endif
#if SCX_BASELINE >= 618
#define __SCX_SINCE_6_18
#else
#define __SCX_SINCE_6_18 __weak
#endif
#if SCX_BASELINE >= 619
#define __SCX_SINCE_6_19
#else
#define __SCX_SINCE_6_19 __weak
#endif
#if SCX_BASELINE >= 701
#define __SCX_SINCE_7_1
#else
#define __SCX_SINCE_7_1 __weak
#endif
#if SCX_BASELINE >= 702
#define __SCX_SINCE_7_2
#else
#define __SCX_SINCE_7_2 __weak
#endif
/* Always weak: removed, deprecated, or broken on 7.1.13 (see above). */
#define __SCX_OPTIONAL __weak

/* --- stable on 6.12..7.2: strong ----------------------------------------- */

s32 scx_bpf_create_dsq(u64 dsq_id, s32 node) __ksym;
void scx_bpf_destroy_dsq(u64 dsq_id) __ksym;
s32 scx_bpf_dsq_nr_queued(u64 dsq_id) __ksym;
s32 scx_bpf_select_cpu_dfl(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   bool *is_idle) __ksym;
u32 scx_bpf_dispatch_nr_slots(void) __ksym;
void scx_bpf_dispatch_cancel(void) __ksym;
void scx_bpf_error_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;
void scx_bpf_dump_bstr(char *fmt, unsigned long long *data, u32 data__sz) __ksym;
u32 scx_bpf_cpuperf_cap(s32 cpu) __ksym;
u32 scx_bpf_cpuperf_cur(s32 cpu) __ksym;
void scx_bpf_cpuperf_set(s32 cpu, u32 perf) __ksym;
u32 scx_bpf_nr_cpu_ids(void) __ksym;
const struct cpumask *scx_bpf_get_possible_cpumask(void) __ksym;
const struct cpumask *scx_bpf_get_online_cpumask(void) __ksym;
void scx_bpf_put_cpumask(const struct cpumask *cpumask) __ksym;
void scx_bpf_put_idle_cpumask(const struct cpumask *idle_mask) __ksym;
bool scx_bpf_test_and_clear_cpu_idle(s32 cpu) __ksym;
s32 scx_bpf_pick_idle_cpu(const struct cpumask *cpus_allowed, u64 flags) __ksym;
s32 scx_bpf_pick_any_cpu(const struct cpumask *cpus_allowed, u64 flags) __ksym;
bool scx_bpf_task_running(const struct task_struct *p) __ksym;
s32 scx_bpf_task_cpu(const struct task_struct *p) __ksym;
struct cgroup *scx_bpf_task_cgroup(struct task_struct *p) __ksym;

/* --- 6.12..6.16 only (removed in 6.17): always weak, ___compat flavor ---- */

void scx_bpf_dispatch___compat(struct task_struct *p, u64 dsq_id, u64 slice,
			       u64 enq_flags) __ksym __SCX_OPTIONAL;
void scx_bpf_dispatch_vtime___compat(struct task_struct *p, u64 dsq_id, u64 slice,
				     u64 vtime, u64 enq_flags) __ksym __SCX_OPTIONAL;
bool scx_bpf_consume___compat(u64 dsq_id) __ksym __SCX_OPTIONAL;
bool scx_bpf_dispatch_from_dsq___compat(struct bpf_iter_scx_dsq *it__iter,
					struct task_struct *p, u64 dsq_id,
					u64 enq_flags) __ksym __SCX_OPTIONAL;
void scx_bpf_dispatch_from_dsq_set_slice___compat(struct bpf_iter_scx_dsq *it__iter,
						  u64 slice) __ksym __SCX_OPTIONAL;
void scx_bpf_dispatch_from_dsq_set_vtime___compat(struct bpf_iter_scx_dsq *it__iter,
						  u64 vtime) __ksym __SCX_OPTIONAL;
bool scx_bpf_dispatch_vtime_from_dsq___compat(struct bpf_iter_scx_dsq *it__iter,
					      struct task_struct *p, u64 dsq_id,
					      u64 enq_flags) __ksym __SCX_OPTIONAL;

/* --- deprecated or 7.1.13-quirk: always weak --------------------------- */

u32 scx_bpf_reenqueue_local(void) __ksym __SCX_OPTIONAL;
struct rq *scx_bpf_cpu_rq(s32 cpu) __ksym __SCX_OPTIONAL;
void scx_bpf_kick_cpu(s32 cpu, u64 flags) __ksym __SCX_OPTIONAL;
void scx_bpf_exit_bstr(s64 exit_code, char *fmt, unsigned long long *data,
		       u32 data__sz) __ksym __SCX_OPTIONAL;
const struct cpumask *scx_bpf_get_idle_cpumask(void) __ksym __SCX_OPTIONAL;
const struct cpumask *scx_bpf_get_idle_smtmask(void) __ksym __SCX_OPTIONAL;
int bpf_iter_scx_dsq_new(struct bpf_iter_scx_dsq *it, u64 dsq_id,
			 u64 flags) __ksym __SCX_OPTIONAL;
struct task_struct *bpf_iter_scx_dsq_next(struct bpf_iter_scx_dsq *it) __ksym __SCX_OPTIONAL;
void bpf_iter_scx_dsq_destroy(struct bpf_iter_scx_dsq *it) __ksym __SCX_OPTIONAL;

/* --- 6.13+: the dispatch verbs renamed --------------------------------- */

void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq_id, u64 slice,
			u64 enq_flags) __ksym __SCX_SINCE_6_13;
void scx_bpf_dsq_insert_vtime(struct task_struct *p, u64 dsq_id, u64 slice,
			      u64 vtime, u64 enq_flags) __ksym __SCX_SINCE_6_13;
bool scx_bpf_dsq_move_to_local(u64 dsq_id) __ksym __SCX_SINCE_6_13;
bool scx_bpf_dsq_move(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
		      u64 dsq_id, u64 enq_flags) __ksym __SCX_SINCE_6_13;
bool scx_bpf_dsq_move_vtime(struct bpf_iter_scx_dsq *it__iter, struct task_struct *p,
			    u64 dsq_id, u64 enq_flags) __ksym __SCX_SINCE_6_13;
void scx_bpf_dsq_move_set_slice(struct bpf_iter_scx_dsq *it__iter,
				u64 slice) __ksym __SCX_SINCE_6_13;
void scx_bpf_dsq_move_set_vtime(struct bpf_iter_scx_dsq *it__iter,
				u64 vtime) __ksym __SCX_SINCE_6_13;

/* --- 6.14+ ------------------------------------------------------------- */

u64 scx_bpf_now(void) __ksym __SCX_SINCE_6_14;

/* --- 6.15+: event counters, NUMA ---------------------------------------- */

void scx_bpf_events(struct scx_event_stats *events, size_t events__sz) __ksym __SCX_SINCE_6_15;
u32 scx_bpf_nr_node_ids(void) __ksym __SCX_SINCE_6_15;
s32 scx_bpf_cpu_node(s32 cpu) __ksym __SCX_SINCE_6_15;
s32 scx_bpf_pick_idle_cpu_node(const struct cpumask *cpus_allowed, s32 node,
			       u64 flags) __ksym __SCX_SINCE_6_15;
s32 scx_bpf_pick_any_cpu_node(const struct cpumask *cpus_allowed, s32 node,
			      u64 flags) __ksym __SCX_SINCE_6_15;
/* 7.1.13 quirk: always weak. */
const struct cpumask *scx_bpf_get_idle_cpumask_node(s32 node) __ksym __SCX_OPTIONAL;
const struct cpumask *scx_bpf_get_idle_smtmask_node(s32 node) __ksym __SCX_OPTIONAL;

/* --- 6.16+ -------------------------------------------------------------- */

s32 scx_bpf_select_cpu_and(struct task_struct *p, s32 prev_cpu, u64 wake_flags,
			   const struct cpumask *cpus_allowed, u64 flags) __ksym __SCX_SINCE_6_16;

/* --- 6.18+ -------------------------------------------------------------- */

struct task_struct *scx_bpf_cpu_curr(s32 cpu) __ksym __SCX_SINCE_6_18;
/* 7.1.13 quirk: always weak. */
struct rq *scx_bpf_locked_rq(void) __ksym __SCX_OPTIONAL;

/* --- 6.19+: args-struct forms, bool-returning insert, task setters ----- */

/* Kernel symbol "scx_bpf_dsq_insert___v2"; returns false if @p was not queued. */
bool scx_bpf_dsq_insert___v2___compat(struct task_struct *p, u64 dsq_id, u64 slice,
				      u64 enq_flags) __ksym __SCX_SINCE_6_19;
bool __scx_bpf_dsq_insert_vtime(struct task_struct *p,
				struct scx_bpf_dsq_insert_vtime_args *args) __ksym __SCX_SINCE_6_19;
s32 __scx_bpf_select_cpu_and(struct task_struct *p, const struct cpumask *cpus_allowed,
			     struct scx_bpf_select_cpu_and_args *args) __ksym __SCX_SINCE_6_19;
bool scx_bpf_task_set_slice(struct task_struct *p, u64 slice) __ksym __SCX_SINCE_6_19;
bool scx_bpf_task_set_dsq_vtime(struct task_struct *p, u64 vtime) __ksym __SCX_SINCE_6_19;
struct task_struct *scx_bpf_dsq_peek(u64 dsq_id) __ksym __SCX_SINCE_6_19;
/* Kernel symbol "scx_bpf_reenqueue_local___v2". */
void scx_bpf_reenqueue_local___v2___compat(void) __ksym __SCX_SINCE_6_19;

/* --- 7.1+: sub-schedulers ----------------------------------------------- */

bool scx_bpf_sub_dispatch(u64 cgroup_id) __ksym __SCX_SINCE_7_1;
void scx_bpf_dsq_reenq(u64 dsq_id, u64 reenq_flags) __ksym __SCX_SINCE_7_1;
/* Kernel symbol "scx_bpf_dsq_move_to_local___v2"; 7.1.13 quirk: always weak. */
bool scx_bpf_dsq_move_to_local___v2___compat(u64 dsq_id, u64 enq_flags) __ksym __SCX_OPTIONAL;

/* --- 7.2+: CPU ids ("cid") ---------------------------------------------- */

u32 scx_bpf_nr_cids(void) __ksym __SCX_SINCE_7_2;
u32 scx_bpf_nr_online_cids(void) __ksym __SCX_SINCE_7_2;
s32 scx_bpf_this_cid(void) __ksym __SCX_SINCE_7_2;
s32 scx_bpf_task_cid(const struct task_struct *p) __ksym __SCX_SINCE_7_2;
s32 scx_bpf_cid_to_cpu(s32 cid) __ksym __SCX_SINCE_7_2;
s32 scx_bpf_cpu_to_cid(s32 cpu) __ksym __SCX_SINCE_7_2;
struct task_struct *scx_bpf_cid_curr(s32 cid) __ksym __SCX_SINCE_7_2;
void scx_bpf_kick_cid(s32 cid, u64 flags) __ksym __SCX_SINCE_7_2;
u32 scx_bpf_cidperf_cap(s32 cid) __ksym __SCX_SINCE_7_2;
u32 scx_bpf_cidperf_cur(s32 cid) __ksym __SCX_SINCE_7_2;
void scx_bpf_cidperf_set(s32 cid, u32 perf) __ksym __SCX_SINCE_7_2;
void scx_bpf_cid_topo(s32 cid, struct scx_cid_topo *out, size_t out__sz) __ksym __SCX_SINCE_7_2;
void scx_bpf_cid_override(const s32 *cpu_to_cid, u32 cpu_to_cid__sz) __ksym __SCX_SINCE_7_2;
struct task_struct *scx_bpf_tid_to_task(u64 tid) __ksym __SCX_SINCE_7_2;

/* --- printf-like wrappers of the *_bstr kfuncs --------------------------- */

#define ___scx_u64_0()
#define ___scx_u64_1(a) (unsigned long long)(a)
#define ___scx_u64_2(a, b) ___scx_u64_1(a), (unsigned long long)(b)
#define ___scx_u64_3(a, b, c) ___scx_u64_2(a, b), (unsigned long long)(c)
#define ___scx_u64_4(a, b, c, d) ___scx_u64_3(a, b, c), (unsigned long long)(d)
#define ___scx_u64_5(a, b, c, d, e) ___scx_u64_4(a, b, c, d), (unsigned long long)(e)
#define ___scx_u64_6(a, b, c, d, e, f) ___scx_u64_5(a, b, c, d, e), (unsigned long long)(f)

/*
 * The format string lives in .data, not .rodata: the kernel checks the
 * `char *fmt` argument for read AND write access, which a frozen .rodata map
 * does not grant. The parameter array always has one spare zeroed slot so
 * that it is never zero-sized.
 */
#define ___scx_bstr_preamble(fmt, args...)					\
	static char ___fmt[] SEC(".data") = fmt;				\
	unsigned long long ___param[___scx_narg(args) + 1] = {			\
		___scx_apply(___scx_u64_, ___scx_narg(args))(args)		\
	};									\
	const u32 ___param_sz = ___scx_narg(args) * sizeof(___param[0]);

/* Abort the scheduler with SCX_EXIT_ERROR_BPF and a formatted message. */
#define scx_bpf_error(fmt, args...)						\
	({									\
		___scx_bstr_preamble(fmt, ##args)				\
		scx_bpf_error_bstr(___fmt, ___param, ___param_sz);		\
	})

/*
 * Exit cleanly (SCX_EXIT_UNREG_BPF) with @code and a message. Falls back to
 * scx_bpf_error() where scx_bpf_exit_bstr cannot be resolved (7.1.13).
 */
#define scx_bpf_exit(code, fmt, args...)					\
	({									\
		___scx_bstr_preamble(fmt, ##args)				\
		if (bpf_ksym_exists(scx_bpf_exit_bstr))			\
			scx_bpf_exit_bstr(code, ___fmt, ___param, ___param_sz);	\
		else								\
			scx_bpf_error_bstr(___fmt, ___param, ___param_sz);	\
	})

/* Print into the exit dump (from ops.dump*). */
#define scx_bpf_dump(fmt, args...)						\
	({									\
		___scx_bstr_preamble(fmt, ##args)				\
		scx_bpf_dump_bstr(___fmt, ___param, ___param_sz);		\
	})

#endif /* SCXPACK_KFUNCS_BPF_H */
