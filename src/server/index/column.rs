//! One attribute's values over the dense slots of a workspace's users.
//!
//! Few distinct values (strings, lists, booleans) are dictionary-encoded: a
//! rule is decided once per distinct value by the model's own `rule`, then
//! one pass over the codes collects the slots. Numbers and dates are kept
//! raw and compared slot by slot. Texts with a value per user (ids, emails,
//! names) sit in one byte arena. Every column keeps the bitmap of the slots
//! that have a value, for the rules that match users without one.

use crate::model::attribute::AttrValue;
use crate::model::condition::{rule, text_rule, NumTest, Op, Operand};
use roaring::RoaringBitmap;
use std::collections::HashMap;

/// A slot with no value in a coded column.
const NONE: u32 = u32::MAX;

/// A distinct value of a coded column (numbers and dates are never coded).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Text(String),
    List(Vec<String>),
    Bool(bool),
}

impl Key {
    fn value(&self) -> AttrValue {
        match self {
            Key::Text(s) => AttrValue::String(s.clone()),
            Key::List(a) => AttrValue::Array(a.clone()),
            Key::Bool(b) => AttrValue::Boolean(*b),
        }
    }
}

/// Distinct values and each slot's code. The lookups are per kind so a
/// value already known is found without copying it.
#[derive(Debug, Default)]
pub struct Coded {
    values: Vec<Key>,
    texts: HashMap<String, u32>,
    lists: HashMap<Vec<String>, u32>,
    bools: [Option<u32>; 2],
    codes: Codes,
}

/// Each slot's code: two bytes while the dictionary has fewer than 65,535
/// values (most attributes: plans, countries, roles), four after.
#[derive(Debug)]
enum Codes {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

/// A slot with no value in a narrow column.
const NARROW_NONE: u16 = u16::MAX;

impl Default for Codes {
    fn default() -> Self {
        Codes::Narrow(Vec::new())
    }
}

impl Codes {
    fn set(&mut self, i: usize, code: u32) {
        if let Codes::Narrow(narrow) = self {
            if code != NONE && code >= u32::from(NARROW_NONE) {
                let wide = narrow
                    .iter()
                    .map(|c| {
                        if *c == NARROW_NONE {
                            NONE
                        } else {
                            u32::from(*c)
                        }
                    })
                    .collect();
                *self = Codes::Wide(wide);
            }
        }
        match self {
            Codes::Narrow(n) => {
                if n.len() <= i {
                    n.resize(i + 1, NARROW_NONE);
                }
                // Below NARROW_NONE here (wider codes widened the column).
                n[i] = if code == NONE {
                    NARROW_NONE
                } else {
                    code as u16
                };
            }
            Codes::Wide(w) => {
                if w.len() <= i {
                    w.resize(i + 1, NONE);
                }
                w[i] = code;
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Codes::Narrow(n) => n.capacity() * 2,
            Codes::Wide(w) => w.capacity() * 4,
        }
    }
}

impl Coded {
    /// The code of `v` (a new one if unseen); NONE for a number or a date.
    fn code_of(&mut self, v: &AttrValue) -> u32 {
        let next = self.values.len() as u32;
        match v {
            AttrValue::String(s) => {
                if let Some(c) = self.texts.get(s.as_str()) {
                    return *c;
                }
                self.texts.insert(s.clone(), next);
                self.values.push(Key::Text(s.clone()));
            }
            AttrValue::Array(a) => {
                if let Some(c) = self.lists.get(a.as_slice()) {
                    return *c;
                }
                self.lists.insert(a.clone(), next);
                self.values.push(Key::List(a.clone()));
            }
            AttrValue::Boolean(b) => {
                if let Some(c) = self.bools[usize::from(*b)] {
                    return c;
                }
                self.bools[usize::from(*b)] = Some(next);
                self.values.push(Key::Bool(*b));
            }
            AttrValue::Number(_) | AttrValue::Date(_) => return NONE,
        }
        next
    }
}

#[derive(Debug, Default)]
pub struct Arena {
    bytes: String,
    /// (start, end) in `bytes`; start == u32::MAX for no value.
    spans: Vec<(u32, u32)>,
}

impl Arena {
    /// The text of slot `i`, if any.
    fn get(&self, i: usize) -> Option<&str> {
        match self.spans.get(i) {
            Some((s, e)) if *s != u32::MAX => Some(&self.bytes[*s as usize..*e as usize]),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum Values {
    Coded(Coded),
    /// Numbers, or dates as milliseconds since the epoch (`date`); NaN for
    /// no value (attribute numbers are finite).
    Number {
        values: Vec<f64>,
        date: bool,
    },
    Arena(Arena),
}

#[derive(Debug)]
pub struct Column {
    pub values: Values,
    pub present: RoaringBitmap,
}

impl Column {
    pub fn coded() -> Column {
        Column::new(Values::Coded(Coded::default()))
    }
    pub fn number() -> Column {
        Column::new(Values::Number {
            values: Vec::new(),
            date: false,
        })
    }
    pub fn date() -> Column {
        Column::new(Values::Number {
            values: Vec::new(),
            date: true,
        })
    }
    pub fn arena() -> Column {
        Column::new(Values::Arena(Arena::default()))
    }
    /// The column for values of `v`'s kind.
    pub fn for_value(v: &AttrValue) -> Column {
        match v {
            AttrValue::Number(_) => Column::number(),
            AttrValue::Date(_) => Column::date(),
            _ => Column::coded(),
        }
    }

    fn new(values: Values) -> Column {
        Column {
            values,
            present: RoaringBitmap::new(),
        }
    }

    /// Sets (Some) or clears (None) the slot's value. A value of another
    /// kind than the column's is cleared (types are fixed per attribute, so
    /// this is only a stale column).
    pub fn set(&mut self, slot: u32, v: Option<&AttrValue>) {
        let i = slot as usize;
        let mut has = v.is_some();
        match &mut self.values {
            Values::Coded(c) => {
                let code = v.map_or(NONE, |v| c.code_of(v));
                has = code != NONE;
                c.codes.set(i, code);
            }
            Values::Number { values, date } => {
                if values.len() <= i {
                    values.resize(i + 1, f64::NAN);
                }
                values[i] = match (v, *date) {
                    (Some(AttrValue::Number(x)), false) => *x,
                    (Some(AttrValue::Date(d)), true) => d.timestamp_millis() as f64,
                    _ => {
                        has = false;
                        f64::NAN
                    }
                };
            }
            Values::Arena(a) => {
                if a.spans.len() <= i {
                    a.spans.resize(i + 1, (u32::MAX, 0));
                }
                a.spans[i] = match v {
                    // The same text again (ids, names on every write): kept.
                    Some(AttrValue::String(s)) if a.get(i) == Some(s.as_str()) => a.spans[i],
                    // A changed text is appended; the old bytes stay until
                    // the next start. Past 4 GiB of text the arena stops
                    // growing: such a column is rebuilt at the next start.
                    Some(AttrValue::String(s)) if a.bytes.len() + s.len() < u32::MAX as usize => {
                        let start = a.bytes.len() as u32;
                        a.bytes.push_str(s);
                        (start, a.bytes.len() as u32)
                    }
                    _ => {
                        has = false;
                        (u32::MAX, 0)
                    }
                };
            }
        }
        if has {
            self.present.insert(slot);
        } else {
            self.present.remove(slot);
        }
    }

    /// The value of one slot, as the model knows it.
    pub fn value_at(&self, slot: u32) -> Option<AttrValue> {
        let i = slot as usize;
        match &self.values {
            Values::Coded(c) => {
                let code = match &c.codes {
                    Codes::Narrow(n) => n
                        .get(i)
                        .filter(|c| **c != NARROW_NONE)
                        .map(|c| u32::from(*c)),
                    Codes::Wide(w) => w.get(i).copied().filter(|c| *c != NONE),
                }?;
                c.values.get(code as usize).map(Key::value)
            }
            Values::Number { values, date } => {
                let x = values.get(i).copied().filter(|x| !x.is_nan())?;
                Some(if *date {
                    AttrValue::Date(chrono::DateTime::from_timestamp_millis(x as i64)?)
                } else {
                    AttrValue::Number(x)
                })
            }
            Values::Arena(a) => a.get(i).map(|s| AttrValue::String(s.to_string())),
        }
    }

    /// The slots whose value passes the rule (slots without one are not
    /// considered here).
    pub fn matching(&self, op: Op, operand: &Operand, cs: bool, now: i64) -> RoaringBitmap {
        match &self.values {
            Values::Coded(c) => {
                let hits: Vec<bool> = c
                    .values
                    .iter()
                    .map(|k| rule(op, operand, &k.value(), cs, now))
                    .collect();
                if !hits.iter().any(|h| *h) {
                    return RoaringBitmap::new();
                }
                match &c.codes {
                    Codes::Narrow(n) => slots_where(n.iter(), |code| {
                        *code != NARROW_NONE && hits[usize::from(*code)]
                    }),
                    Codes::Wide(w) => {
                        slots_where(w.iter(), |code| *code != NONE && hits[*code as usize])
                    }
                }
            }
            Values::Number { values, date } => {
                number_slots(values, &NumTest::of(op, operand, *date, now))
            }
            Values::Arena(a) => slots_where(a.spans.iter(), |(s, e)| {
                *s != u32::MAX && text_rule(op, operand, &a.bytes[*s as usize..*e as usize], cs)
            }),
        }
    }

    /// Bytes held, roughly (for the figures).
    pub fn heap_bytes(&self) -> usize {
        let values = match &self.values {
            Values::Coded(c) => {
                c.codes.heap_bytes()
                    + c.values
                        .iter()
                        .map(|k| match k {
                            Key::Text(s) => s.capacity() + 24,
                            Key::List(l) => l.iter().map(|s| s.capacity() + 24).sum::<usize>() + 24,
                            Key::Bool(_) => 1,
                        })
                        .sum::<usize>()
                        * 2
                    + (c.texts.capacity() + c.lists.capacity()) * 40
            }
            Values::Number { values, .. } => values.capacity() * 8,
            Values::Arena(a) => a.bytes.capacity() + a.spans.capacity() * 8,
        };
        values + self.present.serialized_size()
    }
}

/// The positions of `items` that pass, as a bitmap. The bits are set in a
/// plain byte buffer first (no branch per item), which roaring then takes
/// whole: pushing hundreds of thousands of slots one by one cost more than
/// the tests themselves.
fn slots_where<T>(
    items: impl ExactSizeIterator<Item = T>,
    mut keep: impl FnMut(T) -> bool,
) -> RoaringBitmap {
    let mut bytes = vec![0u8; items.len().div_ceil(8)];
    for (i, item) in items.enumerate() {
        bytes[i >> 3] |= u8::from(keep(item)) << (i & 7);
    }
    RoaringBitmap::from_lsb0_bytes(0, &bytes)
}

/// The slots whose number passes `test`, one tight loop per kind of test
/// (a missing value, NaN, fails every comparison and is kept out of the
/// negated ones).
fn number_slots(values: &[f64], test: &NumTest<'_>) -> RoaringBitmap {
    match *test {
        NumTest::Always(false) => RoaringBitmap::new(),
        NumTest::Always(true) => slots_where(values.iter(), |x| !x.is_nan()),
        NumTest::Within {
            lo,
            lo_open,
            hi,
            hi_open,
            negate,
        } => match (lo_open, hi_open, negate) {
            (false, false, false) => slots_where(values.iter(), |x| *x >= lo && *x <= hi),
            (true, false, false) => slots_where(values.iter(), |x| *x > lo && *x <= hi),
            (false, true, false) => slots_where(values.iter(), |x| *x >= lo && *x < hi),
            (true, true, false) => slots_where(values.iter(), |x| *x > lo && *x < hi),
            _ => slots_where(values.iter(), |x| !x.is_nan() && test.passes(*x)),
        },
        NumTest::OneOf { .. } => slots_where(values.iter(), |x| !x.is_nan() && test.passes(*x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is(c: &Column, text: &str) -> Vec<u32> {
        c.matching(Op::Is, &Operand::Text(text.into()), true, 0)
            .iter()
            .collect()
    }

    #[test]
    fn a_dictionary_past_65534_values_widens_and_keeps_every_code() {
        let mut c = Column::coded();
        for slot in 0..70_000u32 {
            c.set(
                slot,
                Some(&AttrValue::String(format!("v{}", slot % 66_000))),
            );
        }
        c.set(5, None);
        let Values::Coded(coded) = &c.values else {
            panic!("a coded column")
        };
        assert!(matches!(coded.codes, Codes::Wide(_)));
        assert_eq!(is(&c, "v65999"), [65_999]);
        assert_eq!(is(&c, "v10"), [10, 66_010]);
        assert_eq!(is(&c, "v5"), [66_005], "slot 5 was cleared");
        assert_eq!(c.present.len(), 69_999);
        let mut small = Column::coded();
        small.set(3, Some(&AttrValue::Boolean(true)));
        let Values::Coded(coded) = &small.values else {
            panic!("a coded column")
        };
        assert!(matches!(coded.codes, Codes::Narrow(_)));
    }
}
