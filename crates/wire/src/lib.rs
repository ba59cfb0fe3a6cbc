//! `wire`: netlens's decoder. Bytes in, a typed, borrowed view out.
//!
//! Contract (smoltcp/etherparse style): nothing here does I/O, nothing panics on any input, and
//! the hot path does not allocate. A truncated or malformed packet decodes as far as its bytes
//! go; where and why decoding stopped is recorded as data ([`packet::Stop`]), never as an error
//! that loses the layers already decoded.
#![forbid(unsafe_code)]

pub mod bytes;
pub mod dns;
mod fast;
pub mod http;
pub mod icmp;
pub mod layout;
pub mod link;
pub mod packet;
pub mod services;
pub mod text;
pub mod tls;

pub use layout::Layout;
pub use link::LinkType;
pub use packet::{decode, Packet};
