//! CouchDB's view collation, and an order-preserving byte encoding of it.
//!
//! [`collate`] orders JSON values as `couch_ejson_compare` does:
//! `null < false < true < numbers < strings < arrays < objects`; numbers by
//! value (an integer equals the float of the same value); strings by the
//! Unicode Collation Algorithm with ICU's root collator at its default
//! settings (tertiary strength, non-ignorable punctuation), which is what
//! CouchDB's `ucol_open("")` gives; arrays element by element, shorter
//! first; objects member by member in their stored order (key, then value),
//! fewer members first.
//!
//! [`encode_key`] writes a value as bytes whose plain byte order is that
//! collation, so an index stored in an ordered key-value store returns rows
//! in CouchDB order from a range scan. Strings are written as ICU sort
//! keys (which never contain a zero byte) followed by a zero terminator.
//!
//! [`raw_cmp`] is Erlang's native term order, which Mango uses for `_id`.

use std::cmp::Ordering;

use icu_collator::options::CollatorOptions;
use icu_collator::CollatorBorrowed;
use serde_json::{Number, Value};

/// ICU's root collator with default options, as CouchDB opens it.
static COLLATOR: CollatorBorrowed<'static> = CollatorBorrowed::new_root(CollatorOptions::default());

/// Compares two strings as CouchDB's ICU collation does.
pub fn compare_strings(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    COLLATOR.compare(a, b)
}

/// The rank of a JSON type in view collation.
fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// CouchDB view collation of two JSON values.
pub fn collate(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => compare_strings(x, y),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = collate(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                let o = compare_strings(ka, kb).then_with(|| collate(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A JSON number as an exact value: integers stay exact, floats are floats.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else {
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Compares an integer with a float exactly, as Erlang does.
fn cmp_int_float(i: i128, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Less;
    }
    // Every i64/u64 lies well inside ±2^127, so clamping the float's integer
    // part is exact for the comparison.
    let floor = f.floor();
    if floor >= 1.7e38 {
        return Ordering::Less;
    }
    if floor <= -1.7e38 {
        return Ordering::Greater;
    }
    let fi = floor as i128;
    match i.cmp(&fi) {
        Ordering::Equal if f > floor => Ordering::Less,
        o => o,
    }
}

/// Numbers by value; an integer and a float of equal value are equal.
pub fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (num(a), num(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

/// Erlang's term order on decoded JSON (`number < false < null < true <
/// object < array < string`; strings byte-wise; objects as their member
/// lists). Mango compares `_id` this way.
pub fn raw_cmp(a: &Value, b: &Value) -> Ordering {
    fn raw_rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::Bool(false) => 1,
            Value::Null => 2,
            Value::Bool(true) => 3,
            Value::Object(_) => 4,
            Value::Array(_) => 5,
            Value::String(_) => 6,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = raw_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            // `{[{K, V}, …]}` tuples compare by their member lists, and each
            // `{K, V}` pair by key, then value.
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                let o = ka
                    .as_bytes()
                    .cmp(kb.as_bytes())
                    .then_with(|| raw_cmp(va, vb));
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => raw_rank(a).cmp(&raw_rank(b)),
    }
}

/// Erlang's `=:=` on decoded JSON: types and values exactly (an integer
/// is not a float), object members in order.
pub fn exact_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (num(x), num(y)) {
            (Num::Int(p), Num::Int(q)) => p == q,
            (Num::Float(p), Num::Float(q)) => p == q,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| exact_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && exact_eq(va, vb))
        }
        _ => a == b,
    }
}

/// Erlang's `==` on decoded JSON: like [`exact_eq`] but numbers by value.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| ka == kb && loose_eq(va, vb))
        }
        _ => a == b,
    }
}

// Tags of the key encoding, in collation order. 0x00 ends arrays and
// objects (so a prefix sorts first) and 0xff is above every value.
const END: u8 = 0x00;
const T_NULL: u8 = 0x10;
const T_FALSE: u8 = 0x20;
const T_TRUE: u8 = 0x30;
const T_NUMBER: u8 = 0x40;
const T_STRING: u8 = 0x50;
const T_ARRAY: u8 = 0x60;
const T_OBJECT: u8 = 0x70;
/// A byte greater than the first byte of any encoded value.
pub const KEY_MAX: u8 = 0xff;

/// Appends the order-preserving encoding of `v` to `out`: for any values
/// `a`, `b`, `encode(a).cmp(encode(b)) == collate(a, b)`, and values that
/// collate equal encode identically. Encodings are prefix-free.
pub fn encode_key(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::Number(n) => {
            out.push(T_NUMBER);
            encode_number(n, out);
        }
        Value::String(s) => {
            out.push(T_STRING);
            encode_string(s, out);
        }
        Value::Array(items) => {
            out.push(T_ARRAY);
            for item in items {
                encode_key(item, out);
            }
            out.push(END);
        }
        Value::Object(members) => {
            out.push(T_OBJECT);
            for (k, item) in members {
                out.push(T_STRING);
                encode_string(k, out);
                encode_key(item, out);
            }
            out.push(END);
        }
    }
}

/// The encoding of one value, as a fresh vector.
pub fn key_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    encode_key(v, &mut out);
    out
}

/// The ICU sort key (no zero bytes) and a zero terminator.
fn encode_string(s: &str, out: &mut Vec<u8>) {
    let Ok(()) = COLLATOR.write_sort_key_to(s, out);
    out.push(END);
}

/// A number as the order-preserving bits of its nearest `f64`, then two
/// bytes of exact correction for integers that no `f64` represents.
fn encode_number(n: &Number, out: &mut Vec<u8>) {
    let (f, delta) = match num(n) {
        Num::Float(f) => (f, 0i128),
        Num::Int(i) => {
            let f = i as f64;
            // `f` is within one ulp (≤ 2^11 for 64-bit integers) of `i`.
            (f, i - exact_int_of(f))
        }
    };
    let f = if f == 0.0 { 0.0 } else { f };
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    out.extend_from_slice(&ordered.to_be_bytes());
    let d = i16::try_from(delta).unwrap_or(if delta < 0 { i16::MIN } else { i16::MAX });
    out.extend_from_slice(&((d as u16) ^ 0x8000).to_be_bytes());
}

/// The integer value of an integral float within ±2^65.
fn exact_int_of(f: f64) -> i128 {
    f as i128
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// The collation specification from CouchDB's documentation ("Views
    /// Collation"), with the extra numbers of `couch_ejson_compare_tests`.
    fn documented_order() -> Vec<Value> {
        vec![
            json!(null),
            json!(false),
            json!(true),
            json!(-2),
            json!(-0.1),
            json!(0),
            json!(0.1),
            json!(1),
            json!(2),
            json!(3.0),
            json!(4),
            json!("a"),
            json!("A"),
            json!("aa"),
            json!("b"),
            json!("B"),
            json!("ba"),
            json!("bb"),
            json!(["a"]),
            json!(["b"]),
            json!(["b", "c"]),
            json!(["b", "c", "a"]),
            json!(["b", "d"]),
            json!(["b", "d", "e"]),
            json!({"a": 1}),
            json!({"a": 2}),
            json!({"b": 1}),
            json!({"b": 2}),
            serde_json::from_str(r#"{"b": 2, "a": 1}"#).unwrap_or(Value::Null),
            serde_json::from_str(r#"{"b": 2, "c": 2}"#).unwrap_or(Value::Null),
        ]
    }

    #[test]
    fn documented_collation_order() {
        let values = documented_order();
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate() {
                assert_eq!(collate(a, b), i.cmp(&j), "{a} vs {b}");
                assert_eq!(
                    key_bytes(a).cmp(&key_bytes(b)),
                    i.cmp(&j),
                    "encoded {a} vs {b}"
                );
            }
        }
    }

    /// The 7-bit ASCII sequence of CouchDB's documentation, as current ICU
    /// versions (CouchDB 3.x builds) produce it: the documentation's table
    /// predates UCA 6, which moved `` ` `` and `^` among the symbols; the
    /// rule it illustrates holds (symbols < digits < letters, `a < A < b`).
    #[test]
    fn documented_ascii_sequence() {
        let seq = "_ - , ; : ! ? . ' \" ( ) [ ] { } @ * / \\ & # % ` ^ + < = > | ~ $ 0 1 2 3 4 5 6 7 8 9 \
                   a A b B c C d D e E f F g G h H i I j J k K l L m M n N o O p P q Q r R s S t T u U v V \
                   w W x X y Y z Z";
        let mut chars: Vec<&str> = vec![" "];
        chars.extend(seq.split_whitespace());
        assert_eq!(chars.len(), 95);
        for pair in chars.windows(2) {
            assert_eq!(
                compare_strings(pair[0], pair[1]),
                Ordering::Less,
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn documented_string_quirks() {
        let less = [
            ("a", "A"),
            ("A", "aa"),
            ("a", "AA"),
            ("a", "aa"),
            ("abc", "Abc"),
            ("Abc", "ABC"),
            ("ABC", "abc1"),
        ];
        for (a, b) in less {
            assert_eq!(compare_strings(a, b), Ordering::Less, "{a} < {b}");
        }
        assert_eq!(compare_strings("abc1", "AbcZZZZZ"), Ordering::Less);
        assert_eq!(collate(&json!("~"), &json!("0")), Ordering::Less);
        assert_eq!(
            collate(&json!("abc"), &json!("abc\u{fff0}")),
            Ordering::Less
        );
        assert_eq!(
            collate(&json!("abc\u{fff0}"), &json!("abd")),
            Ordering::Less
        );
        assert_eq!(
            collate(&json!("abcZZZZ"), &json!("abc\u{fff0}")),
            Ordering::Less
        );
    }

    #[test]
    fn tricky_numbers() {
        assert_eq!(collate(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(key_bytes(&json!(1)), key_bytes(&json!(1.0)));
        assert_eq!(key_bytes(&json!(-0.0)), key_bytes(&json!(0)));
        let big = json!(9007199254740993u64);
        assert_eq!(collate(&big, &json!(9007199254740992.0)), Ordering::Greater);
        assert!(key_bytes(&big) > key_bytes(&json!(9007199254740992.0)));
        assert!(key_bytes(&json!(u64::MAX)) > key_bytes(&json!(i64::MAX)));
        assert!(key_bytes(&json!(i64::MIN)) < key_bytes(&json!(-1e18)));
        assert_eq!(
            collate(&json!(u64::MAX), &json!(1.8446744073709552e19)),
            Ordering::Less
        );
        assert_eq!(collate(&json!(1.5), &json!(1)), Ordering::Greater);
        assert_eq!(collate(&json!(-1.5), &json!(-1)), Ordering::Less);
    }

    #[test]
    fn raw_order_is_erlang_term_order() {
        let order = [
            json!(1),
            json!(false),
            json!(null),
            json!(true),
            json!({}),
            json!([]),
            json!("A"),
            json!("a"),
        ];
        for pair in order.windows(2) {
            assert_eq!(
                raw_cmp(&pair[0], &pair[1]),
                Ordering::Less,
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e20f64..1e20).prop_map(Value::from),
            (-3i64..3).prop_map(Value::from),
            prop_oneof![Just(0.5), Just(-0.0), Just(1.0), Just(2.5)].prop_map(Value::from),
            "[a-cA-C0-2 ._~é\u{0}-\u{3}\u{300}\u{ff21}]{0,5}".prop_map(Value::from),
            "\\PC{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-cA]{0,2}", inner), 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn collation_is_antisymmetric(a in arb_json(), b in arb_json()) {
            prop_assert_eq!(collate(&a, &b), collate(&b, &a).reverse());
        }

        #[test]
        fn collation_is_transitive(a in arb_json(), b in arb_json(), c in arb_json()) {
            let mut v = [a, b, c];
            v.sort_by(collate);
            prop_assert_ne!(collate(&v[0], &v[1]), Ordering::Greater);
            prop_assert_ne!(collate(&v[1], &v[2]), Ordering::Greater);
            prop_assert_ne!(collate(&v[0], &v[2]), Ordering::Greater);
        }

        #[test]
        fn collation_is_reflexive(a in arb_json()) {
            prop_assert_eq!(collate(&a, &a), Ordering::Equal);
        }

        #[test]
        fn encoding_order_is_collation_order(a in arb_json(), b in arb_json()) {
            prop_assert_eq!(key_bytes(&a).cmp(&key_bytes(&b)), collate(&a, &b), "{} vs {}", a, b);
        }

        #[test]
        fn encoded_prefixes_keep_order(a in arb_json(), b in arb_json(), x in arb_json(), y in arb_json()) {
            // Composite keys: encode(a) ++ encode(x) vs encode(b) ++ encode(y)
            // is lexicographic on (a, x) vs (b, y).
            let mut ka = key_bytes(&a);
            encode_key(&x, &mut ka);
            let mut kb = key_bytes(&b);
            encode_key(&y, &mut kb);
            prop_assert_eq!(ka.cmp(&kb), collate(&a, &b).then_with(|| collate(&x, &y)));
        }

        #[test]
        fn sort_keys_have_no_zero_byte(s in "\\PC{0,12}") {
            let mut k = Vec::new();
            let Ok(()) = COLLATOR.write_sort_key_to(&s, &mut k);
            prop_assert!(!k.contains(&0));
        }

        #[test]
        fn raw_order_is_antisymmetric(a in arb_json(), b in arb_json()) {
            prop_assert_eq!(raw_cmp(&a, &b), raw_cmp(&b, &a).reverse());
        }
    }
}
