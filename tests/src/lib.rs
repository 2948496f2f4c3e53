//! End-to-end and golden tests over the committed recordings
