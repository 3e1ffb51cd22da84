//! Requirements of a BPF object.
