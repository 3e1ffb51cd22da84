//! Unit tests of the package reader and writer.
