//! QR scanning of camera frames and parsing of enrollment payloads (work in progress).
