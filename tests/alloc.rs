//! Proves the hot path does not allocate per packet (being written).
#[test]
fn placeholder_until_written() {}
