//! Benchmarks live in the `[[bench]]` targets of this package:
//! `cargo bench -p mica-benches --bench NAME`.
