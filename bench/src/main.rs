//! The Sổ Tay benchmark program (filled by the benchmark issue).

fn main() {}
