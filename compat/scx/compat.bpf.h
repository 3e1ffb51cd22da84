/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: run-time shims over kfuncs that were renamed,
 * changed shape, or appeared between 6.12 and 7.2.
 *
 * Each shim tries the newest form first and falls back, testing
 * bpf_ksym_exists() on the weak externs of scx/kfuncs.bpf.h. On a given
 * kernel libbpf resolves the missing forms to 0, the verifier sees the
 * branches as dead and checks only the path that kernel can run.
 *
 *   shim                           6.12            6.13..6.18              6.19+
 *   scx_compat_dsq_insert          dispatch        dsq_insert              dsq_insert___v2
 *   scx_compat_dsq_insert_vtime    dispatch_vtime  dsq_insert_vtime        __scx_bpf_dsq_insert_vtime
 *   scx_compat_dsq_move_to_local   consume         dsq_move_to_local       dsq_move_to_local
 *   scx_compat_select_cpu_and      select_cpu_dfl  select_cpu_and (6.16+)  __scx_bpf_select_cpu_and
 *   scx_compat_now                 ktime_get_ns    scx_bpf_now (6.14+)     scx_bpf_now
 *   scx_compat_task_set_slice      p->scx.slice =  p->scx.slice =          task_set_slice
 *   scx_compat_task_set_dsq_vtime  p->scx.dsq_vtime = ...                  task_set_dsq_vtime
 *   scx_compat_kick_cpu            kick_cpu        kick_cpu                kick_cpu (false on 7.1.13)
 *   scx_compat_dsq_peek            NULL            NULL                    dsq_peek
 *
 * With -DSCX_BASELINE=619 the 6.19 forms are strong externs, the tests fold
 * to true at compile time and the fallbacks (and their externs) disappear
 * from the object.
 */
#ifndef SCXPACK_COMPAT_BPF_H
#define SCXPACK_COMPAT_BPF_H

/*
 * Insert @p into @dsq_id with @slice. Returns false when the kernel refused
 * the insertion (6.19+ reports it; older kernels always return true), or
 * when no insert kfunc exists (the scheduler is then aborted).
 */
static __always_inline bool scx_compat_dsq_insert(struct task_struct *p, u64 dsq_id,
						  u64 slice, u64 enq_flags)
{
	if (bpf_ksym_exists(scx_bpf_dsq_insert___v2___compat))
		return scx_bpf_dsq_insert___v2___compat(p, dsq_id, slice, enq_flags);
	if (bpf_ksym_exists(scx_bpf_dsq_insert)) {
		scx_bpf_dsq_insert(p, dsq_id, slice, enq_flags);
		return true;
	}
	if (bpf_ksym_exists(scx_bpf_dispatch___compat)) {
		scx_bpf_dispatch___compat(p, dsq_id, slice, enq_flags);
		return true;
	}
	scx_bpf_error("scxpack: kernel has no dsq_insert/dispatch kfunc");
	return false;
}

/*
 * Insert @p into the vtime-ordered user DSQ @dsq_id at @vtime.
 *
 * The 6.19 form takes struct scx_bpf_dsq_insert_vtime_args
 * { u64 dsq_id; u64 slice; u64 vtime; u64 enq_flags; } (32 bytes, same in
 * 6.19.14..7.2.13 BTF). It is filled as a plain u64 array so that no CO-RE
 * relocation against a struct old kernels lack ends up in the object.
 */
static __always_inline bool scx_compat_dsq_insert_vtime(struct task_struct *p, u64 dsq_id,
							u64 slice, u64 vtime, u64 enq_flags)
{
	if (bpf_ksym_exists(__scx_bpf_dsq_insert_vtime)) {
		u64 args[4] = { dsq_id, slice, vtime, enq_flags };

		return __scx_bpf_dsq_insert_vtime(
			p, (struct scx_bpf_dsq_insert_vtime_args *)args);
	}
	if (bpf_ksym_exists(scx_bpf_dsq_insert_vtime)) {
		scx_bpf_dsq_insert_vtime(p, dsq_id, slice, vtime, enq_flags);
		return true;
	}
	if (bpf_ksym_exists(scx_bpf_dispatch_vtime___compat)) {
		scx_bpf_dispatch_vtime___compat(p, dsq_id, slice, vtime, enq_flags);
		return true;
	}
	scx_bpf_error("scxpack: kernel has no dsq_insert_vtime/dispatch_vtime kfunc");
	return false;
}

/* From ops.dispatch: move the first task of @dsq_id to this CPU's local DSQ. */
static __always_inline bool scx_compat_dsq_move_to_local(u64 dsq_id)
{
	if (bpf_ksym_exists(scx_bpf_dsq_move_to_local))
		return scx_bpf_dsq_move_to_local(dsq_id);
	if (bpf_ksym_exists(scx_bpf_consume___compat))
		return scx_bpf_consume___compat(dsq_id);
	scx_bpf_error("scxpack: kernel has no dsq_move_to_local/consume kfunc");
	return false;
}

/*
 * From ops.select_cpu: pick an idle CPU for @p among @cpus_allowed, claim it
 * and return it, or return a negative errno when none is idle.
 *
 * The 6.19 form takes struct scx_bpf_select_cpu_and_args
 * { s32 prev_cpu; (4 bytes pad) u64 wake_flags; u64 flags; } (24 bytes),
 * filled as a u64 array (little-endian: prev_cpu sits in the low half of the
 * first word). On 6.12, where only scx_bpf_select_cpu_dfl() exists,
 * @cpus_allowed and @flags are ignored and p->cpus_ptr is used: pass
 * p->cpus_ptr to get the same result everywhere.
 */
static __always_inline s32 scx_compat_select_cpu_and(struct task_struct *p, s32 prev_cpu,
						     u64 wake_flags,
						     const struct cpumask *cpus_allowed,
						     u64 flags)
{
	bool is_idle = false;
	s32 cpu;

	if (bpf_ksym_exists(__scx_bpf_select_cpu_and)) {
		u64 args[3] = { (u64)(u32)prev_cpu, wake_flags, flags };

		return __scx_bpf_select_cpu_and(
			p, cpus_allowed, (struct scx_bpf_select_cpu_and_args *)args);
	}
	if (bpf_ksym_exists(scx_bpf_select_cpu_and))
		return scx_bpf_select_cpu_and(p, prev_cpu, wake_flags, cpus_allowed, flags);

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	return is_idle ? cpu : -SCX_EBUSY;
}

/* Current time in ns: the rq clock where the kernel has it (6.14+). */
static __always_inline u64 scx_compat_now(void)
{
	if (bpf_ksym_exists(scx_bpf_now))
		return scx_bpf_now();
	return bpf_ktime_get_ns();
}

/*
 * Kick @cpu with SCX_KICK_* @flags. Returns false when the kernel's
 * scx_bpf_kick_cpu cannot be used (see the 7.1.13 quirk in kfuncs.bpf.h);
 * the caller must then do without (e.g. insert with SCX_ENQ_PREEMPT).
 */
static __always_inline bool scx_compat_kick_cpu(s32 cpu, u64 flags)
{
	if (bpf_ksym_exists(scx_bpf_kick_cpu)) {
		scx_bpf_kick_cpu(cpu, flags);
		return true;
	}
	return false;
}

/*
 * Set @p's remaining slice / virtual time. Direct writes to p->scx.slice and
 * p->scx.dsq_vtime are what 6.12..6.18 offer; newer kernels deprecate them in
 * favour of the 6.19 kfuncs.
 */
static __always_inline void scx_compat_task_set_slice(struct task_struct *p, u64 slice)
{
	if (bpf_ksym_exists(scx_bpf_task_set_slice)) {
		scx_bpf_task_set_slice(p, slice);
		return;
	}
	p->scx.slice = slice;
}

static __always_inline void scx_compat_task_set_dsq_vtime(struct task_struct *p, u64 vtime)
{
	if (bpf_ksym_exists(scx_bpf_task_set_dsq_vtime)) {
		scx_bpf_task_set_dsq_vtime(p, vtime);
		return;
	}
	p->scx.dsq_vtime = vtime;
}

/*
 * First task of user DSQ @dsq_id without dequeueing it, or NULL. Always NULL
 * before 6.19 (the iterator fallback is unusable on 7.1.13, see
 * kfuncs.bpf.h), so callers must treat NULL as "unknown" too.
 */
static __always_inline struct task_struct *scx_compat_dsq_peek(u64 dsq_id)
{
	if (bpf_ksym_exists(scx_bpf_dsq_peek))
		return scx_bpf_dsq_peek(dsq_id);
	return (struct task_struct *)0;
}

#endif /* SCXPACK_COMPAT_BPF_H */
