/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: the exit-info record.
 *
 * When sched_ext ejects a scheduler (error, stall, sysrq, unregister) it
 * calls ops.exit with a struct scx_exit_info whose strings live in kernel
 * memory and are gone afterwards. UEI_RECORD() copies them into the global
 * `uei` below, which the loader reads from the object's .bss map after the
 * struct_ops link is gone.
 *
 * Contract with the loader (see compat/README.md):
 *   symbol   uei
 *   section  .bss (libbpf map "<object>.bss"; offset from the object's BTF
 *            DATASEC ".bss", type "struct user_exit_info")
 *   layout   (x86_64, 1168 bytes)
 *              0  int  kind        enum scx_exit_kind, 0 = scheduler still running
 *              8  s64  exit_code   (exit_code & (1 << 48)) = SCX_ECODE_ACT_RESTART
 *             16  char reason[128] NUL-terminated
 *            144  char msg[1024]   NUL-terminated
 *   `kind` is written last: once it is non-zero the other fields are final.
 */
#ifndef SCXPACK_EXIT_INFO_BPF_H
#define SCXPACK_EXIT_INFO_BPF_H

#define SCX_UEI_REASON_LEN 128
#define SCX_UEI_MSG_LEN 1024

struct user_exit_info {
	int kind;
	s64 exit_code;
	char reason[SCX_UEI_REASON_LEN];
	char msg[SCX_UEI_MSG_LEN];
};

_Static_assert(sizeof(struct user_exit_info) == 1168, "user_exit_info layout");

/* The one record per object (zero-initialised, hence in .bss). */
struct user_exit_info uei;

/*
 * Copy @ei into `uei`. Every member read here exists with the same name in
 * 6.12..7.2 (CO-RE fixes the offsets, which moved when 6.18 added
 * scx_exit_info.flags and 7.2 added exit_cpu).
 */
static __always_inline void scx_uei_record(const struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(uei.reason, sizeof(uei.reason), ei->reason);
	bpf_probe_read_kernel_str(uei.msg, sizeof(uei.msg), ei->msg);
	uei.exit_code = ei->exit_code;
	barrier();
	WRITE_ONCE(uei.kind, (int)ei->kind);
}

#define UEI_RECORD(ei) scx_uei_record(ei)

#endif /* SCXPACK_EXIT_INFO_BPF_H */
