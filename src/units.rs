//! Parsing and canonical formatting of the human-friendly units used in manifests.
//!
//! Manifests express timeouts, memory limits and CPU shares the way people
//! write them (`1h30m`, `512MiB`, `150%`). Every parser here returns a
//! [`UnitError`] whose message names the accepted forms, so a typo in a
//! manifest produces an actionable diagnostic. Each `format_*` function is the
//! canonical inverse of its parser, so values can be written back to a
//! manifest (or shown to a user) and re-read losslessly.
//!
//! Numbers are decimal (`1.5`), never exponent notation, signs, `inf` or
//! `nan`. Durations and sizes are computed with exact integer arithmetic, so
//! `1.5GiB` is exactly 1610612736 bytes and `0.1s` exactly 100ms.
//!
//! Units:
//! * durations: `ms`, `s`, `m`, `h`, `d` (lowercase), several parts may be
//!   combined (`1h30m`, `1h 30m`); a bare number is rejected.
//! * sizes (letters case-insensitive): `B` or no unit = bytes; `K`/`KiB`,
//!   `M`/`MiB`, `G`/`GiB`, `T`/`TiB` are binary (powers of 1024, the single
//!   letters follow docker); `KB`, `MB`, `GB`, `TB` are decimal (powers of
//!   1000). Fractional sizes are rounded down to whole bytes.
//! * CPU: a number of cores (`1.5`) or a percentage of one core (`150%`).

use std::fmt::{self, Write as _};
use std::time::Duration;

use thiserror::Error;

/// Names the kind of value being parsed so error messages say what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// A time span such as a timeout or interval.
    Duration,
    /// A byte count such as a memory limit.
    Size,
    /// A CPU allowance in cores.
    Cpu,
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantity::Duration => "duration",
            Quantity::Size => "size",
            Quantity::Cpu => "CPU value",
        })
    }
}

/// A rejected unit string, carrying the input and a reason that lists the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {quantity} {input:?}: {reason}")]
pub struct UnitError {
    /// What kind of value was expected, so callers can categorise the failure.
    pub quantity: Quantity,
    /// The offending input as given, so it can be quoted back to the user.
    pub input: String,
    /// Why it was rejected and what would have been accepted.
    pub reason: String,
}

impl UnitError {
    fn new(quantity: Quantity, input: &str, reason: impl Into<String>) -> Self {
        UnitError { quantity, input: input.to_string(), reason: reason.into() }
    }
}

const DURATION_UNITS: &str = "ms, s, m, h, d";
const SIZE_UNITS: &str = "B, K/KiB, M/MiB, G/GiB, T/TiB (powers of 1024) \
     or KB, MB, GB, TB (powers of 1000)";
const CPU_FORMS: &str = "a number of cores (e.g. 1.5) or a percentage of one core (e.g. 150%)";

/// Maximum number of fraction digits taken into account; further digits
/// cannot change the result by a whole nanosecond or byte.
const MAX_FRACTION_DIGITS: u32 = 20;

/// A non-negative decimal number kept exact: `int + frac / 10^frac_len`.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    int: u128,
    frac: u128,
    frac_len: u32,
}

impl Decimal {
    /// `self * mult`, rounded down; `None` on overflow.
    fn scale(self, mult: u128) -> Option<u128> {
        let whole = self.int.checked_mul(mult)?;
        let part = self.frac.checked_mul(mult)? / 10u128.pow(self.frac_len);
        whole.checked_add(part)
    }

    fn is_whole(self) -> bool {
        self.frac == 0
    }
}

/// Parses `digits* ('.' digits+)?` (at least one digit) starting at `*pos`.
/// Returns `Ok(None)` if no number starts there, `Err(())` on overflow.
fn parse_decimal(s: &str, pos: &mut usize) -> Result<Option<Decimal>, ()> {
    let bytes = s.as_bytes();
    let start = *pos;
    let mut p = start;
    let mut int: u128 = 0;
    while p < bytes.len() && bytes[p].is_ascii_digit() {
        int = int.checked_mul(10).and_then(|v| v.checked_add(u128::from(bytes[p] - b'0'))).ok_or(())?;
        p += 1;
    }
    let int_digits = p - start;
    let (mut frac, mut frac_len) = (0u128, 0u32);
    if p < bytes.len() && bytes[p] == b'.' && bytes.get(p + 1).is_some_and(u8::is_ascii_digit) {
        p += 1;
        while p < bytes.len() && bytes[p].is_ascii_digit() {
            if frac_len < MAX_FRACTION_DIGITS {
                frac = frac * 10 + u128::from(bytes[p] - b'0');
                frac_len += 1;
            }
            p += 1;
        }
    } else if int_digits == 0 {
        return Ok(None);
    }
    *pos = p;
    Ok(Some(Decimal { int, frac, frac_len }))
}

fn skip_spaces(s: &str, pos: &mut usize) {
    let bytes = s.as_bytes();
    while *pos < bytes.len() && bytes[*pos].is_ascii_whitespace() {
        *pos += 1;
    }
}

fn take_letters<'a>(s: &'a str, pos: &mut usize) -> &'a str {
    // Unicode letters too, so "5µs" reports the unknown unit "µs".
    let len = s[*pos..].char_indices().find(|(_, c)| !c.is_alphabetic()).map_or(s.len() - *pos, |(i, _)| i);
    let start = *pos;
    *pos += len;
    &s[start..*pos]
}

fn char_at(s: &str, pos: usize) -> String {
    s[pos..].chars().next().map(String::from).unwrap_or_default()
}

const NANOS_PER_MS: u128 = 1_000_000;
const NANOS_PER_S: u128 = 1_000_000_000;

fn duration_unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ms" => NANOS_PER_MS,
        "s" => NANOS_PER_S,
        "m" => 60 * NANOS_PER_S,
        "h" => 3_600 * NANOS_PER_S,
        "d" => 86_400 * NANOS_PER_S,
        _ => return None,
    })
}

/// Reads manifest timeouts and intervals written like `500ms`, `1h30m` or `1h 30m`.
///
/// Parts may repeat or come in any order (they are summed); each needs a
/// unit, so a bare `10` is rejected rather than guessed.
///
/// # Errors
/// Empty input, a missing or unknown unit, a negative sign, stray characters,
/// or a total beyond `Duration::MAX`.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let err = |reason: String| UnitError::new(Quantity::Duration, input, reason);
    let s = input.trim();
    if s.is_empty() {
        return Err(err(format!(
            "empty value; expected a number with a unit ({DURATION_UNITS}), e.g. 500ms, 10s or 1h30m"
        )));
    }
    let mut pos = 0;
    let mut total: u128 = 0;
    let mut parts = 0;
    loop {
        skip_spaces(s, &mut pos);
        if pos >= s.len() {
            break;
        }
        if s.as_bytes()[pos] == b'-' {
            return Err(err("negative durations are not allowed".into()));
        }
        let num_start = pos;
        let number = match parse_decimal(s, &mut pos) {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Err(err(format!(
                    "unexpected {:?}; expected a number followed by a unit ({DURATION_UNITS}), e.g. 1h30m",
                    char_at(s, pos)
                )));
            }
            Err(()) => return Err(err("duration is too large".into())),
        };
        let number_text = &s[num_start..pos];
        skip_spaces(s, &mut pos);
        let unit = take_letters(s, &mut pos);
        if unit.is_empty() {
            return Err(err(if parts == 0 && pos >= s.len() {
                format!("missing unit; add a unit, e.g. {number_text}s (units: {DURATION_UNITS})")
            } else {
                format!("missing unit after {number_text:?} (units: {DURATION_UNITS})")
            }));
        }
        let Some(nanos) = duration_unit_nanos(unit) else {
            let hint =
                if duration_unit_nanos(&unit.to_ascii_lowercase()).is_some() { " (units are lowercase)" } else { "" };
            return Err(err(format!(
                "unknown unit {unit:?}{hint}; accepted units are {DURATION_UNITS}, e.g. 500ms or 1h30m"
            )));
        };
        total = number
            .scale(nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| err("duration is too large".into()))?;
        parts += 1;
    }
    let secs = u64::try_from(total / NANOS_PER_S).map_err(|_| err("duration is too large".into()))?;
    // The remainder is < 1e9 and therefore always fits.
    let nanos = (total % NANOS_PER_S) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Renders a duration in the canonical manifest form (`1h30m`, `1s500ms`, `0s`) that `parse_duration` reads back exactly.
///
/// Sub-millisecond remainders are written as a fractional `ms` part
/// (`0.5ms`), so the round trip is exact for every `Duration`.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = total;
    for (unit, nanos) in
        [("d", 86_400 * NANOS_PER_S), ("h", 3_600 * NANOS_PER_S), ("m", 60 * NANOS_PER_S), ("s", NANOS_PER_S)]
    {
        let n = rest / nanos;
        rest %= nanos;
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if rest > 0 {
        let ms = rest / NANOS_PER_MS;
        let sub = rest % NANOS_PER_MS;
        if sub == 0 {
            let _ = write!(out, "{ms}ms");
        } else {
            let frac = format!("{sub:06}");
            let _ = write!(out, "{ms}.{}ms", frac.trim_end_matches('0'));
        }
    }
    out
}

fn size_unit_bytes(unit_lower: &str) -> Option<u128> {
    Some(match unit_lower {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    })
}

/// Reads memory and disk limits written like `512MiB`, `1GB`, `1.5GiB` or a plain byte count.
///
/// Letters are case-insensitive; `K`/`M`/`G`/`T` alone are binary, as in
/// docker. Fractional results are rounded down to whole bytes.
///
/// # Errors
/// Empty input, an unknown unit, a negative sign, stray characters, a
/// fractional byte count, or a value beyond `u64::MAX`.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    let err = |reason: String| UnitError::new(Quantity::Size, input, reason);
    let s = input.trim();
    if s.is_empty() {
        return Err(err(format!("empty value; expected a number with an optional unit ({SIZE_UNITS}), e.g. 512MiB")));
    }
    if s.starts_with('-') {
        return Err(err("negative sizes are not allowed".into()));
    }
    let mut pos = 0;
    let number = match parse_decimal(s, &mut pos) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return Err(err(format!("expected a number with an optional unit ({SIZE_UNITS}), e.g. 512MiB or 1GB")));
        }
        Err(()) => return Err(err("size is too large".into())),
    };
    skip_spaces(s, &mut pos);
    let unit = take_letters(s, &mut pos);
    let lower = unit.to_ascii_lowercase();
    let Some(mult) = size_unit_bytes(&lower) else {
        return Err(err(format!("unknown unit {unit:?}; accepted units are {SIZE_UNITS}")));
    };
    if pos < s.len() {
        return Err(err(format!(
            "unexpected {:?} after the unit; expected a single number with an optional unit ({SIZE_UNITS})",
            char_at(s, pos)
        )));
    }
    if mult == 1 && !number.is_whole() {
        return Err(err("a byte count must be a whole number (use a larger unit such as KiB for fractions)".into()));
    }
    number
        .scale(mult)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| err(format!("size is too large (maximum is {} bytes)", u64::MAX)))
}

/// Renders a byte count in the canonical manifest form that `parse_size` reads back exactly.
///
/// Uses the largest binary unit that divides the value exactly (`512MiB`),
/// falling back to plain bytes (`1000B`), so no precision is ever lost.
#[must_use]
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    for (unit, mult) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes.is_multiple_of(mult) {
            return format!("{}{unit}", bytes / mult);
        }
    }
    format!("{bytes}B")
}

/// Renders a byte count for people reading a table: the largest binary unit that keeps the
/// number at least 1, one decimal (`23.0MiB`, `512B`); columns stay short and comparable.
#[must_use]
pub fn format_size_human(bytes: u64) -> String {
    for (unit, mult) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= mult {
            return format!("{:.1}{unit}", bytes as f64 / mult as f64);
        }
    }
    format!("{bytes}B")
}

/// Reads CPU allowances written as cores (`1.5`) or percent of one core (`150%`).
///
/// The result must be strictly positive: a zero CPU limit would never let the
/// process run, so it is reported instead of silently accepted.
///
/// # Errors
/// Empty input, anything but a plain decimal with an optional `%`, or a
/// value that is not strictly positive and finite.
pub fn parse_cpu(input: &str) -> Result<f64, UnitError> {
    let err = |reason: String| UnitError::new(Quantity::Cpu, input, reason);
    let s = input.trim();
    if s.is_empty() {
        return Err(err(format!("empty value; expected {CPU_FORMS}")));
    }
    let (number, percent) = match s.strip_suffix('%') {
        Some(n) => (n.trim_end(), true),
        None => (s, false),
    };
    if number.starts_with('-') {
        return Err(err("must be greater than 0".into()));
    }
    // Only plain decimals: `str::parse::<f64>` alone would also accept
    // "inf", "NaN", "+1" and "1e3".
    let mut pos = 0;
    let well_formed = number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && match parse_decimal(number, &mut pos) {
            Ok(Some(_)) => pos == number.len(),
            Ok(None) => false,
            // Too many digits for u128; f64 parsing below still applies.
            Err(()) => true,
        };
    if !well_formed {
        return Err(err(format!("expected {CPU_FORMS}")));
    }
    let value: f64 = number.parse().map_err(|_| err(format!("expected {CPU_FORMS}")))?;
    let cores = if percent { value / 100.0 } else { value };
    if !cores.is_finite() {
        return Err(err("value is too large".into()));
    }
    if cores <= 0.0 {
        return Err(err("must be greater than 0".into()));
    }
    Ok(cores)
}

/// Renders a CPU allowance as a percentage (`150%`), the form `parse_cpu` reads back.
///
/// Whole percentages round-trip exactly; other values are written with up to
/// six decimals (`12.5%`), which is far below any scheduler's resolution.
#[must_use]
pub fn format_cpu(cores: f64) -> String {
    let pct = cores * 100.0;
    let rounded = pct.round();
    if (pct - rounded).abs() <= 1e-9 * rounded.abs().max(1.0) {
        return format!("{rounded:.0}%");
    }
    let text = format!("{pct:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn dur_err(s: &str) -> String {
        parse_duration(s).expect_err(&format!("{s:?} should be rejected")).to_string()
    }

    fn size_err(s: &str) -> String {
        parse_size(s).expect_err(&format!("{s:?} should be rejected")).to_string()
    }

    fn cpu_err(s: &str) -> String {
        parse_cpu(s).expect_err(&format!("{s:?} should be rejected")).to_string()
    }

    #[test]
    fn durations_parse() {
        let cases = [
            ("500ms", ms(500)),
            ("2s", ms(2_000)),
            ("5m", ms(300_000)),
            ("1h30m", ms(5_400_000)),
            ("1h 30m", ms(5_400_000)),
            ("  1h  30m  ", ms(5_400_000)),
            ("10 s", ms(10_000)),
            ("7d", ms(7 * 86_400_000)),
            ("1.5s", ms(1_500)),
            ("0.1s", ms(100)),
            (".5s", ms(500)),
            ("1.5ms", Duration::from_micros(1_500)),
            ("0s", Duration::ZERO),
            ("0ms", Duration::ZERO),
            ("1d2h3m4s5ms", ms(93_784_005)),
            ("30s1m", ms(90_000)),
            ("1.5h", ms(5_400_000)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_duration(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn duration_errors() {
        let e = dur_err("10");
        assert!(e.contains("add a unit, e.g. 10s"), "{e}");
        assert!(e.starts_with(r#"invalid duration "10": "#), "{e}");
        assert!(dur_err("0").contains("add a unit"));
        assert!(dur_err("").contains("empty value"));
        assert!(dur_err("   ").contains("empty value"));
        assert!(dur_err("-5s").contains("negative"));
        assert!(dur_err("1h -5s").contains("negative"));
        let e = dur_err("5x");
        assert!(e.contains(r#"unknown unit "x""#), "{e}");
        assert!(e.contains("ms, s, m, h, d"), "{e}");
        assert!(dur_err("5us").contains(r#"unknown unit "us""#));
        assert!(dur_err("5µs").contains(r#"unknown unit "µs""#));
        assert!(dur_err("5H").contains("lowercase"));
        assert!(dur_err("1h30").contains(r#"missing unit after "30""#));
        assert!(dur_err("s").contains(r#"unexpected "s""#));
        assert!(dur_err("1s+2s").contains(r#"unexpected "+""#));
        assert!(dur_err("1..5s").contains("missing unit"));
        assert!(dur_err("1e3s").contains(r#"unknown unit "e""#));
        assert!(dur_err("999999999999999999999999d").contains("too large"));
        assert!(dur_err("99999999999999999999999999999999999999999s").contains("too large"));
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
        assert_eq!(format_duration(ms(1_500)), "1s500ms");
        assert_eq!(format_duration(ms(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(ms(93_784_005)), "1d2h3m4s5ms");
        assert_eq!(format_duration(Duration::from_micros(500)), "0.5ms");
        assert_eq!(format_duration(Duration::from_nanos(1_000_001)), "1.000001ms");
    }

    #[test]
    fn duration_round_trip() {
        let mut samples: Vec<Duration> = vec![
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1),
            Duration::from_nanos(123_456_789),
            Duration::from_secs(u64::MAX / 2),
            Duration::MAX,
        ];
        // A deterministic spread of whole-millisecond values of many magnitudes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..2_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(ms(x % 10u64.pow(i % 12 + 1)));
        }
        for d in samples {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "via {text:?}");
        }
    }

    #[test]
    fn sizes_parse() {
        let cases = [
            ("512MiB", 512 << 20),
            ("1GB", 1_000_000_000),
            ("1.5GiB", 1_610_612_736),
            ("100KiB", 102_400),
            ("100kB", 100_000),
            ("100K", 102_400),
            ("100k", 102_400),
            ("2M", 2 << 20),
            ("1g", 1 << 30),
            ("1T", 1 << 40),
            ("1TB", 1_000_000_000_000),
            ("1tib", 1 << 40),
            ("42", 42),
            ("42B", 42),
            ("42 b", 42),
            ("0", 0),
            (" 64 MiB ", 64 << 20),
            ("0.5KiB", 512),
            ("0.1KiB", 102), // rounded down
            ("1.3GiB", 1_395_864_371),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), Ok(want), "input {input:?}");
        }
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn size_errors() {
        assert!(size_err("").contains("empty value"));
        assert!(size_err("-1MiB").contains("negative"));
        let e = size_err("5XB");
        assert!(e.contains(r#"unknown unit "XB""#), "{e}");
        assert!(e.contains("KiB") && e.contains("KB"), "{e}");
        assert!(size_err("1PiB").contains("unknown unit"));
        assert!(size_err("MiB").contains("expected a number"));
        assert!(size_err("1.5").contains("whole number"));
        assert!(size_err("1.5B").contains("whole number"));
        assert!(size_err("1 MiB 2").contains("unexpected"));
        assert!(size_err("18446744073709551616").contains("too large"));
        assert!(size_err("16777216TiB").contains("too large"));
        assert!(size_err("1e3").contains("unknown unit"));
    }

    #[test]
    fn sizes_format() {
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(1), "1B");
        assert_eq!(format_size(1_000), "1000B");
        assert_eq!(format_size(1_024), "1KiB");
        assert_eq!(format_size_human(4_202_496), "4.0MiB");
        assert_eq!(format_size_human(24_092_672), "23.0MiB");
        assert_eq!(format_size_human(1_536), "1.5KiB");
        assert_eq!(format_size_human(512), "512B");
        assert_eq!(format_size(1_536), "1536B");
        assert_eq!(format_size(512 << 20), "512MiB");
        assert_eq!(format_size(1_610_612_736), "1536MiB");
        assert_eq!(format_size(1_000_000_000), "1000000000B");
        assert_eq!(format_size(3 << 40), "3TiB");
        assert_eq!(format_size(u64::MAX), "18446744073709551615B");
    }

    #[test]
    fn size_round_trip() {
        let mut samples = vec![0, 1, 1023, 1024, 1025, u64::MAX, u64::MAX - 1, 1 << 63];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for i in 0..2_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mix arbitrary values with exact multiples of binary units.
            samples.push(x);
            samples.push((x % 4096) << (10 * (i % 5)));
        }
        for b in samples {
            let text = format_size(b);
            assert_eq!(parse_size(&text), Ok(b), "via {text:?}");
        }
    }

    #[test]
    fn cpu_parse() {
        assert_eq!(parse_cpu("150%"), Ok(1.5));
        assert_eq!(parse_cpu("1.5"), Ok(1.5));
        assert_eq!(parse_cpu("50%"), Ok(0.5));
        assert_eq!(parse_cpu("2"), Ok(2.0));
        assert_eq!(parse_cpu(" 25 % "), Ok(0.25));
        assert_eq!(parse_cpu(".5"), Ok(0.5));
        assert_eq!(parse_cpu("12.5%"), Ok(0.125));
    }

    #[test]
    fn cpu_errors() {
        assert!(cpu_err("").contains("empty value"));
        assert!(cpu_err("0").contains("greater than 0"));
        assert!(cpu_err("0%").contains("greater than 0"));
        assert!(cpu_err("-1").contains("greater than 0"));
        for bad in ["abc", "1.2.3", "1e3", "inf", "NaN", "+1", "%", "1%%", "1 core", "1,5"] {
            let e = cpu_err(bad);
            assert!(e.contains("number of cores"), "{bad:?}: {e}");
        }
        assert_eq!(
            cpu_err("x"),
            r#"invalid CPU value "x": expected a number of cores (e.g. 1.5) or a percentage of one core (e.g. 150%)"#
        );
        let huge = "9".repeat(400);
        assert!(cpu_err(&huge).contains("too large"));
    }

    #[test]
    fn cpu_format() {
        assert_eq!(format_cpu(1.5), "150%");
        assert_eq!(format_cpu(0.5), "50%");
        assert_eq!(format_cpu(2.0), "200%");
        assert_eq!(format_cpu(0.07), "7%");
        assert_eq!(format_cpu(0.125), "12.5%");
        assert_eq!(format_cpu(1.0 / 3.0), "33.333333%");
    }

    #[test]
    fn cpu_round_trip_whole_percents() {
        for p in 1..=10_000u32 {
            let cores = parse_cpu(&format!("{p}%")).unwrap();
            let text = format_cpu(cores);
            assert_eq!(text, format!("{p}%"));
            assert_eq!(parse_cpu(&text), Ok(cores));
        }
        // Core counts written with up to two decimals are whole percents too.
        for c in ["0.07", "0.29", "1.15", "3.33", "64"] {
            let cores = parse_cpu(c).unwrap();
            assert_eq!(parse_cpu(&format_cpu(cores)), Ok(cores), "{c}");
        }
    }

    #[test]
    fn error_names_quantity_and_input() {
        let e = parse_size("5XB").unwrap_err();
        assert_eq!(e.quantity, Quantity::Size);
        assert_eq!(e.input, "5XB");
    }
}
