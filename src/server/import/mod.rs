//! CSV import, the part that reads and checks a file before anything is
//! written: the delimiter (comma or semicolon), a UTF-8 byte-order mark,
//! the header row, each column's type (the existing attribute's, else
//! inferred from its values), and every row that cannot be imported, with
//! its line and the reason. Values are written with the source `import`.

use crate::model::attribute::{parse_date, validate_name, AttrChange, AttrType, AttrValue};
use crate::model::profile::{check_email, AttrInput, Field, Identify, ProfileUpdate};
use serde_json::Value as Json;

/// Largest file, rows and columns an import takes.
pub const MAX_BYTES: usize = 50 * 1024 * 1024;
pub const MAX_ROWS: usize = 1_000_000;
pub const MAX_COLUMNS: usize = 200;

pub mod jobs;

/// Columns that fill a profile's own fields rather than an attribute.
pub const NATIVE_TARGETS: &[&str] = &["name", "email"];

/// A CSV file read whole.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub delimiter: char,
    pub headers: Vec<String>,
    /// (line in the file, cells).
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads a CSV file: UTF-8 with or without a BOM, a header row, comma or
/// semicolon (whichever the header row holds more of).
pub fn read_csv(bytes: &[u8]) -> Result<Table, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "the file is larger than {} MiB; split it",
            MAX_BYTES >> 20
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (at byte {}): save it as \"CSV UTF-8\"",
            e.valid_up_to()
        )
    })?;
    let header_line = text.lines().next().unwrap_or_default();
    let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() {
        ';'
    } else {
        ','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter as u8)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the header row cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err("the file has no header row: its first line names the columns".into());
    }
    if headers.len() > MAX_COLUMNS {
        return Err(format!("the file has more than {MAX_COLUMNS} columns"));
    }
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(format!("column {} has no name in the header row", i + 1));
        }
        if headers[..i].contains(h) {
            return Err(format!("two columns are named {h:?}"));
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("the file cannot be read: {e}"))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(format!("the file has more than {MAX_ROWS} rows; split it"));
        }
        rows.push((line, record.iter().map(|c| c.trim().to_string()).collect()));
    }
    Ok(Table {
        delimiter,
        headers,
        rows,
    })
}

/// How rows find their user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identifier {
    /// Create the user when new.
    UserId,
    /// Existing users only.
    Email,
}

/// Which column identifies the user, and which columns become which
/// attributes (columns left out are not imported).
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    pub identifier_column: usize,
    pub identifier: Identifier,
    pub columns: Vec<(usize, String)>,
}

impl Mapping {
    /// The mapping the import page's form sent (`id`: the identifier
    /// column, `by`: `user_id` or `email`, `c<N>`: where column N goes,
    /// empty to skip it), or, without `id`, the guess from the headers: a
    /// `user_id`/`id` column else an `email` column identifies, `name` and
    /// `email` fill the profile's fields, other columns keep their names.
    pub fn from_form(table: &Table, form: &std::collections::HashMap<String, String>) -> Mapping {
        let lower: Vec<String> = table
            .headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let Some(id) = form.get("id").and_then(|i| i.parse::<usize>().ok()) else {
            let find = |names: &[&str]| lower.iter().position(|h| names.contains(&h.as_str()));
            let (identifier_column, identifier) =
                match find(&["user_id", "userid", "user id", "id", "external_id"]) {
                    Some(c) => (c, Identifier::UserId),
                    None => match find(&["email", "e-mail", "email address"]) {
                        Some(c) => (c, Identifier::Email),
                        None => (0, Identifier::UserId),
                    },
                };
            let columns = (0..table.headers.len())
                .filter(|c| *c != identifier_column)
                .map(|c| {
                    let target = match lower[c].as_str() {
                        "email" | "e-mail" | "email address" => "email".to_string(),
                        "name" | "full name" => "name".to_string(),
                        _ => crate::server::integrations::normalize(&table.headers[c]),
                    };
                    (c, target)
                })
                .collect();
            return Mapping {
                identifier_column,
                identifier,
                columns,
            };
        };
        Mapping {
            identifier_column: id,
            identifier: if form.get("by").is_some_and(|b| b == "email") {
                Identifier::Email
            } else {
                Identifier::UserId
            },
            columns: (0..table.headers.len())
                .filter(|c| *c != id)
                .filter_map(|c| {
                    let target = form.get(&format!("c{c}"))?.trim();
                    (!target.is_empty()).then(|| (c, target.to_string()))
                })
                .collect(),
        }
    }
}

/// A row ready to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    User(Identify),
    ByEmail {
        email: String,
        update: ProfileUpdate,
    },
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Checked {
    /// The type each mapped column is imported as, in mapping order.
    pub types: Vec<AttrType>,
    /// (line, change).
    pub changes: Vec<(usize, Change)>,
    /// (line, why the row is left out); nothing of such a row is written.
    pub bad: Vec<(usize, String)>,
}

/// The type of a new column: numbers, booleans (`true`/`false`) or dates
/// when every value reads as one, else strings.
pub fn infer_type<'a>(values: impl Iterator<Item = &'a str> + Clone) -> AttrType {
    let filled = values.filter(|v| !v.is_empty());
    if filled.clone().next().is_none() {
        return AttrType::String;
    }
    if filled
        .clone()
        .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
    {
        AttrType::Number
    } else if filled
        .clone()
        .all(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "false"))
    {
        AttrType::Boolean
    } else if filled.clone().all(|v| parse_date(v).is_some()) {
        AttrType::Date
    } else {
        AttrType::String
    }
}

/// One cell as a value of type `t`; lists are separated by `|`.
fn cell_value(cell: &str, t: AttrType) -> Result<AttrValue, String> {
    let v = match t {
        AttrType::String => Some(AttrValue::String(cell.to_string())),
        AttrType::Number => cell
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(AttrValue::Number),
        AttrType::Boolean => match cell.to_ascii_lowercase().as_str() {
            "true" => Some(AttrValue::Boolean(true)),
            "false" => Some(AttrValue::Boolean(false)),
            _ => None,
        },
        AttrType::Date => parse_date(cell).map(AttrValue::Date),
        AttrType::Array => Some(AttrValue::Array(
            cell.split('|')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )),
    };
    v.ok_or_else(|| format!("{cell:?} is not a {t}"))
}

/// Checks every row against the mapping and the workspace's attribute
/// types (`existing`); writes nothing.
pub fn check(
    table: &Table,
    mapping: &Mapping,
    existing: &dyn Fn(&str) -> Option<AttrType>,
) -> Result<Checked, String> {
    let width = table.headers.len();
    if mapping.identifier_column >= width {
        return Err("choose the column that identifies the user".into());
    }
    let mut types = Vec::new();
    for (col, name) in &mapping.columns {
        if *col >= width || *col == mapping.identifier_column {
            return Err(format!("column {} cannot be mapped to {name:?}", col + 1));
        }
        if let Some((other, _)) = mapping.columns.iter().find(|(c, n)| n == name && c < col) {
            return Err(format!(
                "columns {:?} and {:?} both go to {name:?}; choose one",
                table.headers[*other], table.headers[*col]
            ));
        }
        if NATIVE_TARGETS.contains(&name.as_str()) {
            types.push(AttrType::String);
            continue;
        }
        validate_name(name)
            .map_err(|e| format!("column {:?}: {}", table.headers[*col], e.message))?;
        types.push(existing(name).unwrap_or_else(|| {
            infer_type(
                table
                    .rows
                    .iter()
                    .map(|(_, r)| r.get(*col).map_or("", String::as_str)),
            )
        }));
    }
    let mut out = Checked {
        types: types.clone(),
        ..Default::default()
    };
    for (line, cells) in &table.rows {
        let cell = |c: usize| cells.get(c).map_or("", String::as_str);
        if cells.len() > width {
            out.bad
                .push((*line, format!("{} cells for {width} columns", cells.len())));
            continue;
        }
        let id = cell(mapping.identifier_column);
        if id.is_empty() {
            out.bad.push((
                *line,
                format!(
                    "no {} in column {:?}",
                    match mapping.identifier {
                        Identifier::UserId => "user id",
                        Identifier::Email => "email",
                    },
                    table.headers[mapping.identifier_column]
                ),
            ));
            continue;
        }
        let mut update = ProfileUpdate {
            source: "import",
            ..Default::default()
        };
        let mut reason = None;
        for ((col, name), t) in mapping.columns.iter().zip(&types) {
            let raw = cell(*col);
            if raw.is_empty() {
                continue;
            }
            let value = match name.as_str() {
                "email" => check_email(raw).map(|e| update.email = Field::Set(e)),
                "name" => {
                    update.name = Field::Set(raw.chars().take(200).collect());
                    Ok(())
                }
                _ => cell_value(raw, *t).map(|v| {
                    update.attributes.push(AttrInput {
                        name: name.clone(),
                        raw: Json::String(raw.to_string()),
                        change: AttrChange::Set(v),
                        once: false,
                    })
                }),
            };
            if let Err(e) = value {
                reason = Some(format!("column {:?}: {e}", table.headers[*col]));
                break;
            }
        }
        if let Some(r) = reason {
            out.bad.push((*line, r));
            continue;
        }
        let change = match mapping.identifier {
            Identifier::UserId if id.chars().count() > crate::model::profile::MAX_USER_ID_CHARS => {
                out.bad.push((*line, "the user id is too long".into()));
                continue;
            }
            Identifier::UserId => Change::User(Identify {
                user_id: id.to_string(),
                update,
            }),
            Identifier::Email => match check_email(id) {
                Ok(email) => Change::ByEmail { email, update },
                Err(e) => {
                    out.bad.push((*line, e));
                    continue;
                }
            },
        };
        out.changes.push((*line, change));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_user_id(columns: &[(usize, &str)]) -> Mapping {
        Mapping {
            identifier_column: 0,
            identifier: Identifier::UserId,
            columns: columns.iter().map(|(c, n)| (*c, n.to_string())).collect(),
        }
    }

    #[test]
    fn reads_both_delimiters_and_a_bom() {
        let comma = read_csv(b"user_id,plan,seats\nu1,Pro,3\n\nu2,\"Free, trial\",\n").unwrap();
        assert_eq!(comma.delimiter, ',');
        assert_eq!(comma.headers, ["user_id", "plan", "seats"]);
        assert_eq!(comma.rows.len(), 2, "the blank line is skipped");
        assert_eq!(comma.rows[1].1[1], "Free, trial");
        let semi = read_csv("\u{feff}user_id;plan;price\nu1;Pro;3,5\n".as_bytes()).unwrap();
        assert_eq!(semi.delimiter, ';');
        assert_eq!(
            semi.headers[0], "user_id",
            "the BOM is not part of the first name"
        );
        assert_eq!(
            semi.rows[0],
            (2, vec!["u1".into(), "Pro".into(), "3,5".into()])
        );
        assert!(read_csv(b"a,a\n1,2\n").unwrap_err().contains("two columns"));
        assert!(read_csv(b"a,,b\n")
            .unwrap_err()
            .contains("column 2 has no name"));
        assert!(read_csv(b"\xff\xfe").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn every_bad_row_is_named_before_anything_is_written() {
        let t = read_csv(
            b"user_id,plan,seats,renews,vip,features\n\
              u1,Pro,3,2026-06-15,true,a|b\n\
              ,Pro,1,,,\n\
              u3,Team,many,,,\n\
              u4,Team,4,soon,,\n\
              u5,Free,,,,\n\
              u6,Free,2,,,x,extra\n",
        )
        .unwrap();
        let m = by_user_id(&[
            (1, "plan"),
            (2, "seats"),
            (3, "renews"),
            (4, "vip"),
            (5, "features"),
        ]);
        let existing = |n: &str| (n == "features").then_some(AttrType::Array);
        let c = check(&t, &m, &existing).unwrap();
        assert_eq!(
            c.types,
            [
                AttrType::String,
                AttrType::String,
                AttrType::String,
                AttrType::Boolean,
                AttrType::Array
            ],
            "seats holds `many` and renews `soon`: text columns"
        );
        assert_eq!(c.bad.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [3, 7]);
        assert!(c.bad[0].1.contains("no user id"));
        assert!(c.bad[1].1.contains("7 cells for 6 columns"));
        assert_eq!(c.changes.len(), 4);
        let Change::User(u1) = &c.changes[0].1 else {
            panic!()
        };
        assert_eq!(u1.update.source(), "import");
        assert_eq!(u1.update.attributes.len(), 5);
        assert_eq!(
            u1.update.attributes[4].change,
            AttrChange::Set(AttrValue::Array(vec!["a".into(), "b".into()]))
        );

        // Typed columns refuse what does not read.
        let t = read_csv(b"email,seats,renews\nsam@acme.io,3,2026-01-01\nbad-email,2,\nana@acme.io,x,\nbo@acme.io,1,later\n").unwrap();
        let m = Mapping {
            identifier_column: 0,
            identifier: Identifier::Email,
            columns: vec![(1, "seats".into()), (2, "renews".into())],
        };
        let typed = |n: &str| match n {
            "seats" => Some(AttrType::Number),
            "renews" => Some(AttrType::Date),
            _ => None,
        };
        let c = check(&t, &m, &typed).unwrap();
        let bad: Vec<(usize, &str)> = c.bad.iter().map(|(l, r)| (*l, r.as_str())).collect();
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert_eq!(bad[0].0, 3);
        assert!(bad[1].1.contains("\"x\" is not a number"), "{bad:?}");
        assert!(bad[2].1.contains("\"later\" is not a date"), "{bad:?}");
        assert!(matches!(&c.changes[0].1, Change::ByEmail { email, .. } if email == "sam@acme.io"));
        assert!(check(
            &t,
            &Mapping {
                columns: vec![(1, "bad name".into())],
                ..m.clone()
            },
            &typed
        )
        .unwrap_err()
        .contains("not allowed"));
    }

    #[test]
    fn the_form_or_the_headers_give_the_mapping() {
        let t = read_csv(b"Email,Full Name,Plan,Seats count\nsam@acme.io,Sam,Pro,3\n").unwrap();
        let guess = Mapping::from_form(&t, &Default::default());
        assert_eq!(guess.identifier, Identifier::Email);
        assert_eq!(guess.identifier_column, 0);
        assert_eq!(
            guess.columns,
            [
                (1, "name".into()),
                (2, "Plan".into()),
                (3, "Seats_count".into())
            ]
        );
        let c = check(&t, &guess, &|_| None).unwrap();
        let Change::ByEmail { update, .. } = &c.changes[0].1 else {
            panic!()
        };
        assert_eq!(update.name, Field::Set("Sam".into()));
        let t = read_csv(b"plan,user_id,email\nPro,u1,bad\n").unwrap();
        let guess = Mapping::from_form(&t, &Default::default());
        assert_eq!(
            (guess.identifier_column, guess.identifier),
            (1, Identifier::UserId)
        );
        let c = check(&t, &guess, &|_| None).unwrap();
        assert_eq!(c.bad.len(), 1, "an email column is checked as one");
        let form: std::collections::HashMap<String, String> =
            [("id", "1"), ("by", "user_id"), ("c0", " tier "), ("c2", "")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let chosen = Mapping::from_form(&t, &form);
        assert_eq!(
            chosen.columns,
            [(0, "tier".into())],
            "an empty box skips the column"
        );
        let twice = Mapping {
            columns: vec![(0, "tier".into()), (2, "tier".into())],
            ..chosen
        };
        assert!(check(&t, &twice, &|_| None)
            .unwrap_err()
            .contains("both go to \"tier\""));
    }

    #[test]
    fn column_types_are_inferred_from_every_value() {
        assert_eq!(infer_type(["1", "", "2.5"].into_iter()), AttrType::Number);
        assert_eq!(infer_type(["TRUE", "false"].into_iter()), AttrType::Boolean);
        assert_eq!(
            infer_type(["2026-01-01", "2026-02-03T10:00:00Z"].into_iter()),
            AttrType::Date
        );
        assert_eq!(infer_type(["1", "x"].into_iter()), AttrType::String);
        assert_eq!(infer_type(["", ""].into_iter()), AttrType::String);
    }
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Outcome {
    pub created: i64,
    pub updated: i64,
    /// (line, why): rows refused while writing (a type conflict with a
    /// value written meanwhile, an email no user has).
    pub rejected: Vec<(usize, String)>,
}

/// Rows written per round trip to the writer.
const CHUNK: usize = 500;

/// Writes checked rows through the writer, a chunk at a time; `progress`
/// hears how many rows are done.
pub async fn apply(
    store: &crate::server::store::Store,
    writer: &crate::server::store::writer::Writer,
    workspace: i64,
    changes: Vec<(usize, Change)>,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> Result<Outcome, crate::server::store::StoreError> {
    use crate::server::store::users::UserKey;
    use crate::server::store::writer::{WriteOp, WriteOutcome};
    let mut out = Outcome::default();
    let mut done = 0;
    let mut rest = changes.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<(usize, Change)> = rest.by_ref().take(CHUNK).collect();
        done += chunk.len();
        let ids: Vec<String> = chunk
            .iter()
            .filter_map(|(_, c)| match c {
                Change::User(i) => Some(i.user_id.clone()),
                Change::ByEmail { .. } => None,
            })
            .collect();
        let known = store.existing_user_ids(workspace, &ids).await?;
        let mut ops = Vec::with_capacity(chunk.len());
        let mut lines = Vec::with_capacity(chunk.len());
        for (line, change) in chunk {
            match change {
                Change::User(input) => {
                    lines.push((line, !known.contains(&input.user_id)));
                    ops.push(WriteOp::Identify { workspace, input });
                }
                Change::ByEmail { email, update } => {
                    match store.jimer_id_by_email(workspace, &email).await? {
                        Some(jimer_id) => {
                            lines.push((line, false));
                            ops.push(WriteOp::Update {
                                workspace,
                                user: UserKey::JimerId(jimer_id),
                                update,
                            });
                        }
                        None => out
                            .rejected
                            .push((line, format!("no user has the email {email:?}"))),
                    }
                }
            }
        }
        for (result, (line, new)) in writer.write_many(ops).await.into_iter().zip(lines) {
            match result {
                Ok(WriteOutcome::Missing) => out.rejected.push((line, "the user is gone".into())),
                Ok(_) if new => out.created += 1,
                Ok(_) => out.updated += 1,
                Err(e) => out.rejected.push((line, e.to_string())),
            }
        }
        progress(done);
    }
    Ok(out)
}
