//! Strict JSON for JOSE headers, claims and JWKS: any object with a duplicate member name is
//! refused at every depth (RFC 7515 §5.2, RFC 8725 §3.11), so no two parsers can disagree on
//! which `alg` or `exp` counts. Nesting depth is bounded by serde_json's recursion limit.

use core::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if m.insert(k, v).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(m))
    }
}

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// Not valid JSON (including nesting deeper than the parser's limit and duplicate names).
    Invalid,
    /// Valid JSON, but not an object.
    NotObject,
}

/// Parses a JSON text that must be an object with unique member names at every depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match serde_json::from_slice::<StrictValue>(bytes) {
        Ok(StrictValue(Value::Object(m))) => Ok(m),
        Ok(_) => Err(JsonError::NotObject),
        Err(_) => Err(JsonError::Invalid),
    }
}

/// The value of the top-level member `name` of a JSON object text that [`parse_object`]
/// accepted (its member names are unique), parsed as [`parse_object`] parses it, without
/// building the other members (they are skipped, nothing is allocated for them). `None`: no
/// such member, or not such a text.
pub fn member(text: &[u8], name: &str) -> Option<Value> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let found = Seek(name).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// Looks for one member of an object (see [`member`]).
struct Seek<'n>(&'n str);

impl<'de> de::DeserializeSeed<'de> for Seek<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let mut found = None;
        while let Some(is_name) = map.next_key_seed(KeyIs(self.0))? {
            if is_name && found.is_none() {
                let StrictValue(v) = map.next_value()?;
                found = Some(v);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether a member name (unescaped) is the one looked for; allocates nothing.
struct KeyIs<'n>(&'n str);

impl<'de> de::DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_object() {
        let m = parse_object(br#"{"a":1,"b":[true,null,"x",1.5],"c":{"d":-2}}"#).unwrap();
        assert_eq!(m["a"], 1);
        assert_eq!(m["b"][3], 1.5);
        assert_eq!(m["c"]["d"], -2);
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"alg":"none","alg":"RS256"}"#),
            Err(JsonError::Invalid)
        );
        assert_eq!(parse_object(br#"{"a":{"x":1,"x":2}}"#), Err(JsonError::Invalid));
    }

    #[test]
    fn refuses_non_objects_and_garbage() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"{"), Err(JsonError::Invalid));
        assert_eq!(parse_object(b"{} x"), Err(JsonError::Invalid));
    }

    #[test]
    fn one_member_as_the_whole_parse_has_it() {
        let text = br#"{"a":1,"b":[true,null,"x",1.5],"c":{"d":-2},"\u0065":"escaped name","f":"v\"q"}"#;
        let m = parse_object(text).unwrap();
        for name in ["a", "b", "c", "e", "f"] {
            assert_eq!(member(text, name).as_ref(), m.get(name), "{name}");
        }
        assert_eq!(member(text, "e"), Some(Value::from("escaped name")));
        assert_eq!(member(text, "f"), Some(Value::from("v\"q")));
        assert_eq!(member(text, "d"), None, "only top-level members");
        assert_eq!(member(text, "zz"), None);
        assert_eq!(member(b"[1]", "a"), None);
        assert_eq!(member(b"{\"a\":1} x", "a"), None);
    }

    #[test]
    fn refuses_deep_nesting_without_overflow() {
        let mut s = String::new();
        for _ in 0..1000 {
            s.push_str("{\"a\":");
        }
        s.push('1');
        for _ in 0..1000 {
            s.push('}');
        }
        assert_eq!(parse_object(s.as_bytes()), Err(JsonError::Invalid));
    }
}
