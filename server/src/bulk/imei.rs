//! IMEI checks: 15 digits with a valid Luhn check digit, stored as an integer.

/// Whether 15 ASCII digits pass the Luhn check (the IMEI check digit).
pub fn luhn_ok(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut x = u32::from(d.wrapping_sub(b'0'));
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    sum % 10 == 0
}

/// Parses an IMEI: exactly 15 digits with a valid check digit.
pub fn parse_imei(text: &str) -> Result<u64, &'static str> {
    let b = text.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
        return Err("IMEI must be exactly 15 digits");
    }
    if !luhn_ok(b) {
        return Err("IMEI fails the Luhn check (wrong check digit)");
    }
    let mut n = 0u64;
    for d in b {
        n = n * 10 + u64::from(d - b'0');
    }
    Ok(n)
}

/// An IMEI stored as an integer, back to its 15 digits.
pub fn format_imei(n: u64) -> String {
    format!("{n:015}")
}
