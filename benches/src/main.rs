//! Benchmarks of Headway; see BENCHMARKS.md.

fn main() {}
