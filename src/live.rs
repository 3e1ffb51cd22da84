//! The running kernel: the only module that reads `/sys` and calls `uname`.
