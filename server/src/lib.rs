//! Reference enrollment server (work in progress).
