//! `enroll`: desktop enrollment agent and admin tool (work in progress).

fn main() {}
