//! scxpack: ship `sched_ext` schedulers as prebuilt CO-RE BPF objects.
//!
//! The crate is split along the data flow of `ARCHITECTURE.md`:
//! [`btf`] parses BTF and BTF.ext without syscalls, [`kernel`] turns any kernel
//! source (vmlinuz, vmlinux, raw BTF, `.deb`, the running kernel) into
//! [`kernel::KernelFacts`], [`object`] turns a `.bpf.o` into
//! [`object::Requirements`]. Only [`live`] touches `/sys` and `uname`.

pub mod btf;
pub mod check;
pub mod cli;
pub mod exit_status;
pub mod junit;
pub mod kernel;
pub mod live;
pub mod loader;
pub mod matching;
pub mod object;
pub mod package;
pub mod vm;
pub mod vmtest;
