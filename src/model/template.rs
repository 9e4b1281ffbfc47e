//! Templates (API.md "Templates"): `{name}`, `{name|fallback}`, `{{` and
//! `}}`. Parsed once (malformed templates are refused with the place and
//! what was expected), rendered for a user in one pass. The same code runs
//! in the browser (the editor's preview) and on the server (the API and the
//! SDK), so the preview is what the user gets. The result is text: whatever
//! shows it escapes it.

use crate::model::attribute::{validate_name, AttrValue};
use crate::model::condition::value_of;
use crate::model::profile::User;
use chrono::{DateTime, Datelike, Utc};

/// Longest template, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 20_000;
/// Most variables in one template.
pub const MAX_VARIABLES: usize = 500;
/// Longest fallback, in characters.
pub const MAX_FALLBACK_CHARS: usize = 500;

/// Variables every user can have besides attributes: from the native name.
pub const DERIVED: &[&str] = &["firstName", "lastName"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Var {
        name: String,
        fallback: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// Where a template is malformed and what was expected there. Lines and
/// columns count from 1, in characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    /// Characters before the problem.
    pub offset: usize,
    pub message: String,
}

/// A template rendered for one user.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Rendered {
    pub text: String,
    /// Variables this user lacks (or holds empty): the fallback, or nothing, was used.
    pub missing: Vec<String>,
    /// Variables no user of the workspace has.
    pub unknown: Vec<String>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let chars: Vec<char> = src.chars().collect();
        let at = |offset: usize, message: String| {
            let before = &chars[..offset.min(chars.len())];
            let line = before.iter().filter(|c| **c == '\n').count() + 1;
            let column = before.iter().rev().take_while(|c| **c != '\n').count() + 1;
            TemplateError {
                line,
                column,
                offset,
                message,
            }
        };
        if chars.len() > MAX_TEMPLATE_CHARS {
            return Err(at(
                MAX_TEMPLATE_CHARS,
                format!("a template holds at most {MAX_TEMPLATE_CHARS} characters"),
            ));
        }
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut vars = 0;
        let mut i = 0;
        while i < chars.len() {
            match (chars[i], chars.get(i + 1)) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    text.push(chars[i]);
                    i += 2;
                }
                ('}', _) => {
                    return Err(at(
                        i,
                        "a lone `}`: write `}}` for a brace, or open the variable with `{`".into(),
                    ))
                }
                ('{', _) => {
                    let open = i;
                    i += 1;
                    let start = i;
                    while i < chars.len() && !matches!(chars[i], '}' | '|' | '{' | '\n') {
                        i += 1;
                    }
                    let raw: String = chars[start..i].iter().collect();
                    let name = raw.trim().to_string();
                    if i >= chars.len() || chars[i] == '\n' {
                        return Err(at(
                            open,
                            "this `{` is never closed: expected `}` after the variable name".into(),
                        ));
                    }
                    if chars[i] == '{' {
                        return Err(at(
                            i,
                            "expected `}` or `|` before another `{` (variables do not nest; `{{` is a brace)"
                                .into(),
                        ));
                    }
                    if name.is_empty() {
                        return Err(at(
                            start,
                            "expected a variable name after `{`, such as {firstName}".into(),
                        ));
                    }
                    if let Err(e) = validate_name(&name) {
                        // Native fields and derived names are fine here.
                        let native = crate::model::attribute::NATIVE_FIELDS
                            .contains(&name.as_str())
                            || DERIVED.contains(&name.as_str());
                        if !native {
                            return Err(at(start, format!("not a variable name: {}", e.message)));
                        }
                    }
                    let fallback = if chars[i] == '|' {
                        i += 1;
                        let mut fb = String::new();
                        loop {
                            match (chars.get(i), chars.get(i + 1)) {
                                (Some('{'), Some('{')) | (Some('}'), Some('}')) => {
                                    fb.push(chars[i]);
                                    i += 2;
                                }
                                (Some('}'), _) => break,
                                (Some('{'), _) => {
                                    return Err(at(
                                        i,
                                        "a fallback is plain text: expected `}` before another `{` (write `{{` for a brace)"
                                            .into(),
                                    ))
                                }
                                (Some(c), _) => {
                                    fb.push(*c);
                                    i += 1;
                                }
                                (None, _) => {
                                    return Err(at(
                                        open,
                                        "this `{` is never closed: expected `}` after the fallback"
                                            .into(),
                                    ))
                                }
                            }
                        }
                        if fb.chars().count() > MAX_FALLBACK_CHARS {
                            return Err(at(
                                open,
                                format!("a fallback holds at most {MAX_FALLBACK_CHARS} characters"),
                            ));
                        }
                        Some(fb)
                    } else {
                        None
                    };
                    // chars[i] is the closing `}`.
                    i += 1;
                    vars += 1;
                    if vars > MAX_VARIABLES {
                        return Err(at(
                            open,
                            format!("a template holds at most {MAX_VARIABLES} variables"),
                        ));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Var { name, fallback });
                }
                (c, _) => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    /// The variable names, each once, in order of appearance.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let Part::Var { name, .. } = p {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// The template written back (`{{` for a brace, and so on).
    pub fn source(&self) -> String {
        let escape = |s: &str| s.replace('{', "{{").replace('}', "}}");
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => escape(t),
                Part::Var {
                    name,
                    fallback: None,
                } => format!("{{{name}}}"),
                Part::Var {
                    name,
                    fallback: Some(f),
                } => format!("{{{name}|{}}}", escape(f)),
            })
            .collect()
    }

    /// Renders for `user`; `known` says whether some user of the workspace
    /// has an attribute of that name (native fields and `firstName` /
    /// `lastName` are always known).
    pub fn render(&self, user: &User, known: &dyn Fn(&str) -> bool) -> Rendered {
        let mut out = Rendered::default();
        for piece in self.pieces(user, known) {
            match piece {
                Piece::Text(t) | Piece::Value { text: t, .. } => out.text.push_str(&t),
                Piece::Lacking {
                    name,
                    fallback,
                    known,
                } => {
                    out.text.push_str(&fallback);
                    let list = if known {
                        &mut out.missing
                    } else {
                        &mut out.unknown
                    };
                    if !list.contains(&name) {
                        list.push(name);
                    }
                }
            }
        }
        out
    }

    /// The rendering piece by piece: what came from the template, from the
    /// user's values, and where the user lacks a variable (the fallback, or
    /// nothing, stands there). The editor's preview marks the last kind.
    pub fn pieces(&self, user: &User, known: &dyn Fn(&str) -> bool) -> Vec<Piece> {
        let lang = Lang::of(user.language.as_deref());
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => Piece::Text(t.clone()),
                Part::Var { name, fallback } => match variable(user, name)
                    .map(|v| format_value(&v, lang))
                    .filter(|v| !v.is_empty())
                {
                    Some(text) => Piece::Value {
                        name: name.clone(),
                        text,
                    },
                    None => Piece::Lacking {
                        name: name.clone(),
                        fallback: fallback.clone().unwrap_or_default(),
                        known: is_known(name, known),
                    },
                },
            })
            .collect()
    }
}

/// A piece of a rendering (see `Template::pieces`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Value {
        name: String,
        text: String,
    },
    Lacking {
        name: String,
        fallback: String,
        /// False when no user of the workspace has it.
        known: bool,
    },
}

/// The condition (API.md "Conditions") of the users who lack variable
/// `name`, as `Template::pieces` sees it: no value, or an empty one; for
/// `firstName` / `lastName`, no custom value and no such part of the name.
/// `type_of` answers the type of a workspace attribute; None means no user
/// has such a variable (everyone lacks it).
pub fn lacking_condition(
    name: &str,
    type_of: &dyn Fn(&str) -> Option<crate::model::attribute::AttrType>,
) -> Option<serde_json::Value> {
    use crate::model::attribute::AttrType;
    use serde_json::json;
    let lacks = |n: &str| -> Option<serde_json::Value> {
        let t = crate::model::condition::native_type(n).or_else(|| type_of(n))?;
        Some(match t {
            AttrType::String | AttrType::Array => json!({"any": [
                {"attribute": n, "op": "is_not_set"}, {"attribute": n, "op": "is_empty"}]}),
            _ => json!({"attribute": n, "op": "is_not_set"}),
        })
    };
    if DERIVED.contains(&name) {
        let custom = lacks(name).unwrap_or_else(|| json!({"all": []}));
        let from_name = if name == "firstName" {
            lacks("name")?
        } else {
            json!({"any": [lacks("name")?, {"attribute": "name", "op": "not_contains", "value": " "}]})
        };
        return Some(json!({"all": [custom, from_name]}));
    }
    lacks(name)
}

/// Whether `name` is a variable some user can have.
pub fn is_known(name: &str, known: &dyn Fn(&str) -> bool) -> bool {
    DERIVED.contains(&name) || crate::model::attribute::NATIVE_FIELDS.contains(&name) || known(name)
}

/// A user's value of a variable: an attribute (custom `firstName` and
/// `lastName` first), a native field, or a part of the native name.
pub fn variable(user: &User, name: &str) -> Option<AttrValue> {
    if let Some(v) = value_of(user, name) {
        return Some(v);
    }
    let full = user.name.as_deref()?.trim();
    let (first, last) = match full.split_once(char::is_whitespace) {
        Some((f, l)) => (f, l.trim()),
        None => (full, ""),
    };
    match name {
        "firstName" => Some(AttrValue::String(first.to_string())),
        "lastName" => Some(AttrValue::String(last.to_string())),
        _ => None,
    }
}

/// The languages dates, numbers and booleans are written in; English for
/// any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
    De,
    Es,
}

impl Lang {
    /// From a user's `language` (`fr`, `fr-CA`, `de_DE`, ...).
    pub fn of(language: Option<&str>) -> Lang {
        let code = language
            .unwrap_or_default()
            .get(..2)
            .unwrap_or_default()
            .to_ascii_lowercase();
        match code.as_str() {
            "fr" => Lang::Fr,
            "de" => Lang::De,
            "es" => Lang::Es,
            _ => Lang::En,
        }
    }
}

const MONTHS: [[&str; 12]; 4] = [
    [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    [
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
        "déc.",
    ],
    [
        "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.",
        "Dez.",
    ],
    [
        "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
    ],
];

/// A date as people read it: `15 Jun 2026`, `15 juin 2026`, `15. Juni 2026`,
/// `15 jun 2026` (the UTC day).
pub fn format_day(d: &DateTime<Utc>, lang: Lang) -> String {
    let month = MONTHS[lang as usize][d.month0() as usize];
    match lang {
        Lang::De => format!("{}. {month} {}", d.day(), d.year()),
        _ => format!("{} {month} {}", d.day(), d.year()),
    }
}

/// A number with the language's separators: `1,234.5`, `1 234,5`,
/// `1.234,5`, `1234,5` (Spanish groups from five digits).
pub fn format_decimal(n: f64, lang: Lang) -> String {
    if !n.is_finite() {
        return n.to_string();
    }
    let plain = crate::model::attribute::format_number(n);
    let (sign, rest) = match plain.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", plain.as_str()),
    };
    // Exponent forms (very large or small numbers) stay as they are.
    if rest.contains(['e', 'E']) {
        return plain;
    }
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let (group, point) = match lang {
        Lang::En => (",", "."),
        Lang::Fr => ("\u{202f}", ","),
        Lang::De => (".", ","),
        Lang::Es => (".", ","),
    };
    let grouped = if int.len() > 3 && !(lang == Lang::Es && int.len() == 4) {
        let mut g = String::new();
        for (k, c) in int.chars().enumerate() {
            if k > 0 && (int.len() - k) % 3 == 0 {
                g.push_str(group);
            }
            g.push(c);
        }
        g
    } else {
        int.to_string()
    };
    match frac {
        Some(f) => format!("{sign}{grouped}{point}{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A value as text in a sentence.
pub fn format_value(v: &AttrValue, lang: Lang) -> String {
    match v {
        AttrValue::String(s) => s.clone(),
        AttrValue::Number(n) => format_decimal(*n, lang),
        AttrValue::Boolean(b) => match (lang, b) {
            (Lang::Fr, true) => "oui",
            (Lang::Fr, false) => "non",
            (Lang::De, true) => "ja",
            (Lang::De, false) => "nein",
            (Lang::Es, true) => "sí",
            (Lang::Es, false) => "no",
            (Lang::En, true) => "yes",
            (Lang::En, false) => "no",
        }
        .to_string(),
        AttrValue::Date(d) => format_day(d, lang),
        AttrValue::Array(items) => items.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: Option<&str>, language: Option<&str>, attrs: &[(&str, AttrValue)]) -> User {
        User {
            name: name.map(str::to_string),
            language: language.map(str::to_string),
            tags: vec!["beta".into(), "vip".into()],
            ..crate::model::profile::sample_user(attrs)
        }
    }

    fn known(n: &str) -> bool {
        matches!(
            n,
            "plan" | "renewal_date" | "seats" | "beta" | "features" | "nickname"
        )
    }

    fn render(t: &str, u: &User) -> Rendered {
        Template::parse(t).unwrap().render(u, &known)
    }

    fn day(s: &str) -> AttrValue {
        AttrValue::Date(crate::model::attribute::parse_date(s).unwrap())
    }

    #[test]
    fn variables_fallbacks_and_braces() {
        let u = user(
            Some("Sam  Taylor Jones"),
            None,
            &[
                ("plan", AttrValue::String("Pro".into())),
                ("renewal_date", day("2026-06-15T13:00:00Z")),
                ("nickname", AttrValue::String(String::new())),
            ],
        );
        let r = render(
            "Hello {firstName}, your {plan} plan renews on {renewal_date}.",
            &u,
        );
        assert_eq!(r.text, "Hello Sam, your Pro plan renews on 15 Jun 2026.");
        assert!(r.missing.is_empty() && r.unknown.is_empty());
        assert_eq!(render("{lastName}", &u).text, "Taylor Jones");
        let r = render("Hi {nickname|friend} {seats|some} {shoe|x}{shoe}", &u);
        assert_eq!(r.text, "Hi friend some x");
        assert_eq!(r.missing, ["nickname", "seats"]);
        assert_eq!(r.unknown, ["shoe"]);
        assert_eq!(render("{{plan}} }} {{", &u).text, "{plan} } {");
        assert_eq!(render("{ plan |a {{b}} c}", &u).text, "Pro");
        assert_eq!(render("{seats|a {{b}} c}", &u).text, "a {b} c");
        assert_eq!(
            render("{tags} {sessions} {email}", &u).text,
            "beta, vip 3 sam@acme.io"
        );
        // Custom firstName wins over the derived one.
        let custom = user(
            Some("Sam Taylor"),
            None,
            &[("firstName", AttrValue::String("Samantha".into()))],
        );
        assert_eq!(render("{firstName}", &custom).text, "Samantha");
        let nameless = user(None, None, &[]);
        let r = render("Hi {firstName|there}", &nameless);
        assert_eq!(
            (r.text.as_str(), r.missing.clone()),
            ("Hi there", vec!["firstName".to_string()])
        );
    }

    #[test]
    fn values_follow_the_users_language() {
        let attrs = [
            ("renewal_date", day("2026-03-05")),
            ("seats", AttrValue::Number(1234567.5)),
            ("beta", AttrValue::Boolean(true)),
        ];
        let t = "{renewal_date} {seats} {beta}";
        for (lang, want) in [
            (None, "5 Mar 2026 1,234,567.5 yes"),
            (Some("fr-FR"), "5 mars 2026 1\u{202f}234\u{202f}567,5 oui"),
            (Some("de"), "5. März 2026 1.234.567,5 ja"),
            (Some("es_ES"), "5 mar 2026 1.234.567,5 sí"),
            (Some("pt"), "5 Mar 2026 1,234,567.5 yes"),
        ] {
            assert_eq!(render(t, &user(None, lang, &attrs)).text, want, "{lang:?}");
        }
        assert_eq!(format_decimal(1234.0, Lang::Es), "1234");
        assert_eq!(format_decimal(-1234.25, Lang::En), "-1,234.25");
        assert_eq!(format_decimal(999.0, Lang::Fr), "999");
    }

    #[test]
    fn malformed_templates_say_where_and_what_was_expected() {
        let e = |t: &str| Template::parse(t).unwrap_err();
        let x = e("Hello {firstName");
        assert_eq!((x.line, x.column), (1, 7));
        assert!(x.message.contains("never closed"), "{x}");
        let x = e("a }");
        assert_eq!(x.column, 3);
        assert!(x.message.contains("`}}`"), "{x}");
        let x = e("line one\n{}");
        assert_eq!((x.line, x.column), (2, 2));
        assert!(x.message.contains("expected a variable name"), "{x}");
        assert!(e("{a{b}}").message.contains("do not nest"));
        assert!(e("{plan|a {b}").message.contains("plain text"));
        assert!(e("{plan|oops").message.contains("never closed"));
        assert!(e("{pl an}").message.contains("not a variable name"));
        assert!(e("{a\n}").message.contains("never closed"));
        let long = "x".repeat(MAX_TEMPLATE_CHARS + 1);
        assert!(e(&long).message.contains("at most"));
        let many = "{a}".repeat(MAX_VARIABLES + 1);
        assert!(e(&many).message.contains("at most"));
        let fb = format!("{{a|{}}}", "f".repeat(MAX_FALLBACK_CHARS + 1));
        assert!(e(&fb).message.contains("at most"));
    }

    #[test]
    fn source_round_trips() {
        for t in [
            "Hi {firstName|there}, {{x}} }}",
            "{a}{b|}",
            "",
            "{plan|a {{b}}}",
        ] {
            let parsed = Template::parse(t).unwrap();
            assert_eq!(Template::parse(&parsed.source()).unwrap(), parsed, "{t}");
        }
    }

    /// Arbitrary text never panics; what parses renders, writes back to the
    /// same template, and renders no more than the template and the values.
    #[test]
    fn arbitrary_input_never_panics_and_stays_bounded() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: Vec<char> = "{}|{}|ab firstName plan\n\\é漢🙂 .-_$".chars().collect();
        let u = user(
            Some("Sam Taylor"),
            Some("fr"),
            &[("plan", AttrValue::String("P".repeat(700)))],
        );
        let (mut parsed, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let t: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            match Template::parse(&t) {
                Ok(tpl) => {
                    parsed += 1;
                    assert_eq!(Template::parse(&tpl.source()).as_ref(), Ok(&tpl), "{t:?}");
                    let r = tpl.render(&u, &known);
                    let vars = tpl
                        .parts
                        .iter()
                        .filter(|p| matches!(p, Part::Var { .. }))
                        .count();
                    assert!(
                        r.text.chars().count() <= t.chars().count() + vars * 700,
                        "{t:?}"
                    );
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        e.offset <= t.chars().count() && e.line >= 1 && e.column >= 1,
                        "{t:?}"
                    );
                }
            }
        }
        assert!(
            parsed > 1000 && refused > 1000,
            "{parsed} parsed, {refused} refused"
        );
        // The largest template parses and renders in one pass.
        let big =
            "{plan|x} ".repeat(MAX_VARIABLES) + &"y".repeat(MAX_TEMPLATE_CHARS - 9 * MAX_VARIABLES);
        let r = Template::parse(&big).unwrap().render(&u, &known);
        assert_eq!(
            r.text.chars().count(),
            MAX_VARIABLES * 701 + MAX_TEMPLATE_CHARS - 9 * MAX_VARIABLES
        );
    }
}
