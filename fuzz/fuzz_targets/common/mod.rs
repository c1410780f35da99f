//! What the request-body targets share: the check that a refusal quotes nothing of the input.
//!
//! A message may name a structure or a field of the *code* and give a position or a limit; it
//! may not carry the input's values. Checking "the message does not contain the input" is
//! foolable (an input that is a piece of the fixed wording is "contained" without being
//! echoed), so the check is on the message alone: bounded, and made only of the characters our
//! fixed wordings use. Every wording of the parsers under test avoids the characters below;
//! libFuzzer's inputs hold them all the time, so a message that quoted a value (a base64
//! token with `+`, `=` or `/`... most values) would be caught within seconds.

/// Longest refusal message any of these parsers writes.
pub const MAX_MESSAGE: usize = 300;

/// Characters none of the fixed wordings holds. (`#` and `?` are not in the list: "PKCS#10"
/// and roxmltree's "expected '?>'" are fixed wordings; the first 60-second runs flagged both,
/// and those inputs are seeds: `regression-*` in `fuzz/corpus/windows_soap` and `syncml`.)
const NOT_IN_WORDINGS: &[char] = &[
    '=', ';', '&', '%', '!', '*', '+', '~', '|', '\\', '$', '@', '^', '{', '}', '\t', '\n', '\r',
];

/// Panics unless `message` looks like a fixed wording (see the module doc).
pub fn check_refusal(message: &str) {
    assert!(
        message.len() <= MAX_MESSAGE,
        "refusal of {} bytes: {message:?}",
        message.len()
    );
    assert!(
        !message
            .chars()
            .any(|c| c.is_control() || !c.is_ascii() || NOT_IN_WORDINGS.contains(&c)),
        "refusal quoting input: {message:?}"
    );
}
