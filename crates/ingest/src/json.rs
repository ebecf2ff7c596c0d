//! A strict, borrowing JSON tree.
//!
//! `serde_json::Value` silently keeps the last of duplicate keys and copies every string.
//! Producers and Rampart must never disagree about what a document says, so duplicate keys
//! are an error here; strings are borrowed from the input where they have no escapes, which
//! keeps parsing near the speed of a plain scan. The parser is sonic-rs (SIMD scanning, the
//! same serde interface as serde_json): it parsed the bench's alerts in 28 % less time than
//! serde_json (docs/benchmarks.md, "Twelfth session"). It refuses lone surrogates and invalid UTF-8; nesting is bounded here.
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// A parsed JSON value that borrows from its input.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Non-negative integers above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    /// Keys in document order, no duplicates.
    Obj(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl<'a> Node<'a> {
    /// Parses `bytes` as exactly one JSON value.
    pub fn parse(bytes: &'a [u8]) -> Result<Node<'a>, String> {
        let mut de = sonic_rs::Deserializer::from_slice(bytes);
        let node = Node::deserialize_strict(&mut de).map_err(|e| {
            let msg = first_line(&e);
            if msg.contains("hex escape") || msg.contains("surrogate") {
                format!(
                    "{msg} (a \\u escape must be a valid code point; lone surrogates are refused)"
                )
            } else {
                msg
            }
        })?;
        de.end().map_err(|e| first_line(&e))?;
        Ok(node)
    }

    fn deserialize_strict<D: Deserializer<'a>>(d: D) -> Result<Node<'a>, D::Error> {
        d.deserialize_any(NodeVisitor { depth: 0 })
    }

    /// The JSON type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => "number",
            Node::Str(_) => "string",
            Node::Arr(_) => "array",
            Node::Obj(_) => "object",
        }
    }

    /// Looks a key up in an object (None for other types).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// DESIGN.md's nesting limit, counted as serde_json counts it (which reads stored documents
/// back): at most 127 arrays and objects inside one another, so a value sits at most 128
/// levels deep. The parser's own limit is higher; this one is checked as the tree is built.
pub const MAX_DEPTH: usize = 128;

/// The parser's message without the excerpt of the input it appends on further lines: an
/// API error names the place (line and column) in one line.
fn first_line(e: &impl fmt::Display) -> String {
    let msg = e.to_string();
    msg.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Builds a [`Node`]; `depth` is how many arrays and objects enclose the value.
struct NodeVisitor {
    depth: usize,
}

impl NodeVisitor {
    /// The visitor for a value inside this container, or the error if it is one too deep.
    fn inner<E: de::Error>(&self) -> Result<NodeSeed, E> {
        if self.depth + 1 >= MAX_DEPTH {
            return Err(E::custom(format!(
                "nesting deeper than {} levels (recursion limit)",
                MAX_DEPTH - 1
            )));
        }
        Ok(NodeSeed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(i64::try_from(v).map_or(Node::UInt(v), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node<'de>, E> {
        Ok(Node::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let seed = self.inner()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
        while let Some(v) = seq.next_element_seed(seed)? {
            items.push(v);
        }
        Ok(Node::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let seed = self.inner()?;
        let mut fields: Vec<(Cow<'de, str>, Node<'de>)> = Vec::with_capacity(8);
        // Linear scans beat hashing for the small objects alerts are made of; switch to a set
        // for large ones so a hostile object with 100k keys stays linear.
        let mut seen: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let dup = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let d = fields.iter().any(|(k, _)| *k == key);
                    if fields.len() >= 32 {
                        seen = Some(
                            fields
                                .iter()
                                .map(|(k, _)| k.clone())
                                .chain([key.clone()])
                                .collect(),
                        );
                    }
                    d
                }
            };
            if dup {
                return Err(de::Error::custom(format!(
                    "duplicate key {:?}",
                    key.as_ref()
                )));
            }
            let value = map.next_value_seed(seed)?;
            fields.push((key, value));
        }
        Ok(Node::Obj(fields))
    }
}

#[derive(Clone, Copy)]
struct NodeSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(NodeVisitor { depth: self.depth })
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests;
