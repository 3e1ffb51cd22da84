//! scxpack: ship `sched_ext` schedulers as prebuilt CO-RE BPF objects.
//!
//! The crate is split along the data flow of `ARCHITECTURE.md`:
//! [`btf`] parses BTF and BTF.ext without syscalls, [`kernel`] turns any kernel
//! source (vmlinuz, vmlinux, raw BTF, `.deb`, the running kernel) into
//! [`kernel::KernelFacts`], [`object`] turns a `.bpf.o` into
//! [`object::Requirements`], and [`matching`] judges one against the other
//! without a syscall. [`check`] runs matching offline over kernel images;
//! [`loader`] runs it on the running kernel and is the only module making BPF
//! syscalls; [`live`] is the only one that knows the paths under `/sys` and
//! `/proc`. [`package`] is the `.scxpkg` format and its installation, [`vm`]
//! and [`vmtest`] boot kernels in QEMU to prove the verdicts ([`proof`] keeps
//! what they saw for `check`), and [`cli`] is a
//! thin layer over all of it. `docs/architecture.md` draws the data flow.

pub mod btf;
pub mod check;
pub mod cli;
pub mod daemon;
pub mod diagnostics;
pub mod exit_status;
pub mod histogram;
pub mod junit;
pub mod kernel;
pub mod live;
pub mod loader;
pub mod matching;
pub mod object;
pub mod package;
pub mod progress;
pub mod proof;
mod records;
pub mod relay;
pub mod vm;
pub mod vmtest;
pub mod wakeup;
