//! Criterion benchmarks: sequential against parallel on the same blocks.
fn main() {}
