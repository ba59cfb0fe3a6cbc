//! The interactive set-up and privilege errors, driven as a person would (being written).
