/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * scxpack BPF compat layer: the one header a scheduler includes.
 *
 * Build with -I<repo>/vmlinux -I<repo>/compat (bpf-objects/flags.mk).
 * Define SCX_BASELINE (612 default, 619 for "modern" variants) before
 * including to choose which kfuncs are strong; see scx/kfuncs.bpf.h.
 */
#ifndef SCXPACK_COMMON_BPF_H
#define SCXPACK_COMMON_BPF_H

#include <vmlinux.h>

#include <scx/base.bpf.h>
#include <scx/kfuncs.bpf.h>
#include <scx/compat.bpf.h>
#include <scx/ops.bpf.h>
#include <scx/exit_info.bpf.h>
#include <scx/enums.bpf.h>

#endif /* SCXPACK_COMMON_BPF_H */
