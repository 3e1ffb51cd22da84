//! Kernels: reading any kernel source into BTF ([`source`]) and deriving
//! what it offers ([`facts`]).

pub mod facts;

pub use facts::{BtfDefect, EnumValue, KernelFacts, Kfunc, OpsMember};
