//! Integers as JSON Schema reads them: a number is an `integer` when its fractional part is
//! zero, so `12.0` and `1.2e1` are the integer 12 just as `12` is. The contracts in
//! `schema/` declare the fields of a request as `integer`; [`integer`] makes the server
//! accept every spelling they allow, and still refuse `1.5`.

use std::fmt;

use serde::de::{self, Deserializer, Unexpected, Visitor};

/// Largest magnitude at which every whole `f64` is exactly the integer its text spelled:
/// past it, `9007199254740993.0` would silently become `…992`, so such floats are refused.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// `#[serde(deserialize_with = "crate::whole::integer")]`: an integer field that also takes
/// a whole number written as a float (`12.0`), within the field type's range. Formats that
/// do not describe themselves in text (not JSON) get the plain integer, as without it.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de> + TryFrom<i128>,
{
    if !deserializer.is_human_readable() {
        return T::deserialize(deserializer);
    }
    let n = deserializer.deserialize_any(Whole)?;
    T::try_from(n).map_err(|_| {
        let expected = format!("an integer that fits in {}", std::any::type_name::<T>());
        de::Error::invalid_value(Unexpected::Other(&n.to_string()), &expected.as_str())
    })
}

/// Any whole JSON number, widened to `i128` so the caller checks its own range once.
struct Whole;

impl Visitor<'_> for Whole {
    type Value = i128;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<i128, E> {
        Ok(v)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<i128, E> {
        i128::try_from(v).map_err(|_| E::invalid_value(Unexpected::Other(&v.to_string()), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i128, E> {
        if v.fract() == 0.0 && v.abs() <= EXACT_FLOAT {
            // Exact: a whole float of at most 2^53 converts without rounding.
            Ok(v as i128)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Item {
        #[serde(deserialize_with = "super::integer")]
        quantity: u32,
        #[serde(deserialize_with = "super::integer")]
        cents: i64,
    }

    fn parse(json: &str) -> Result<(u32, i64), String> {
        serde_json::from_str::<Item>(json).map(|i| (i.quantity, i.cents)).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_in_any_spelling_are_integers() {
        assert_eq!(parse(r#"{"quantity": 1, "cents": -5}"#), Ok((1, -5)));
        assert_eq!(parse(r#"{"quantity": 1.0, "cents": 12.0}"#), Ok((1, 12)));
        assert_eq!(parse(r#"{"quantity": 1e2, "cents": -0.0}"#), Ok((100, 0)));
        assert_eq!(parse(r#"{"quantity": 4294967295, "cents": 9007199254740992.0}"#).unwrap().0, u32::MAX);
    }

    #[test]
    fn fractions_out_of_range_values_and_other_types_are_refused() {
        for bad in [
            r#"{"quantity": 1.5, "cents": 1}"#,
            r#"{"quantity": -1, "cents": 1}"#,
            r#"{"quantity": 4294967296, "cents": 1}"#,
            r#"{"quantity": 1, "cents": 9223372036854775808}"#,
            r#"{"quantity": 1, "cents": 9007199254740994.0}"#,
            r#"{"quantity": 1, "cents": 1e300}"#,
            r#"{"quantity": "1", "cents": 1}"#,
            r#"{"quantity": true, "cents": 1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(parse(r#"{"quantity": 1.5, "cents": 1}"#).unwrap_err().contains("1.5"));
    }
}
