//! Numbers as the page prints them: bytes with thousands separators, durations with a unit
//! chosen for three significant figures, ratios with a ×.

/// A figure with its interval beside it when there is one: "17.0 µs [16.2 µs–17.9 µs]", each
/// number formatted by `show`.
pub fn with_interval(value: f64, interval: Option<(f64, f64)>, show: impl Fn(f64) -> String) -> String {
    match interval {
        Some((lo, hi)) => format!("{} [{}–{}]", show(value), show(lo), show(hi)),
        None => show(value),
    }
}

/// 1234.4 → "1,234". Fractions are kept for small means (a per-op mean of 0.5 B is real).
pub fn int(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v.abs() < 10.0 && v.fract().abs() > 0.05 {
        return format!("{v:.1}");
    }
    let r = v.round() as i64;
    let digits = r.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if r < 0 { format!("-{out}") } else { out }
}

/// Bytes: "1,234 B".
pub fn bytes(v: f64) -> String {
    format!("{} B", int(v))
}

/// Nanoseconds as "850 ns", "716 µs", "1.77 ms", "2.50 s".
pub fn nanos(ns: f64) -> String {
    let a = ns.abs();
    let (v, unit) = if a < 1e3 {
        (ns, "ns")
    } else if a < 1e6 {
        (ns / 1e3, "µs")
    } else if a < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", sig3(v))
}

/// Microseconds (CPU per op) as "376 µs", "12.5 µs", "1.20 ms".
pub fn micros(us: f64) -> String {
    nanos(us * 1e3)
}

/// Three significant figures, no exponent: 716, 71.6, 7.16.
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio: "2.57×".
pub fn ratio(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v >= 100.0 {
        format!("{v:.0}×")
    } else if v >= 10.0 {
        format!("{v:.1}×")
    } else {
        format!("{v:.2}×")
    }
}

/// Operations per second: "2,267 ops/s".
pub fn rate(v: f64) -> String {
    format!("{} ops/s", int(v))
}

/// Round trips or turns: "1", "2", "10", "1.5".
pub fn count(v: f64) -> String {
    if (v - v.round()).abs() < 0.005 { format!("{}", v.round() as i64) } else { format!("{v:.2}") }
}

/// A signed latency difference: "+512 µs", "-3.0 µs".
pub fn signed_nanos(ns: f64) -> String {
    if ns >= 0.0 { format!("+{}", nanos(ns)) } else { format!("-{}", nanos(-ns)) }
}

/// "4 min 40 s", "52 s", "1 h 32 min".
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(int(1234.4), "1,234");
        assert_eq!(int(725.0), "725");
        assert_eq!(int(1_000_000.0), "1,000,000");
        assert_eq!(int(2.5), "2.5");
        assert_eq!(bytes(51.0), "51 B");
        assert_eq!(nanos(716_287.0), "716 µs");
        assert_eq!(nanos(1_770_000.0), "1.77 ms");
        assert_eq!(nanos(850.0), "850 ns");
        assert_eq!(ratio(2.5709), "2.57×");
        assert_eq!(count(2.0), "2");
        assert_eq!(signed_nanos(-3000.0), "-3.00 µs");
    }
}
