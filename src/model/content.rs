//! A piece of personalized content: a name and four templates (title, body,
//! button label, link), checked before it is saved.

use crate::model::template::Template;
use serde::{Deserialize, Serialize};

pub const MAX_NAME_CHARS: usize = 100;

/// The fields, as the editor and the store name them.
pub const FIELDS: &[(&str, &str)] = &[
    ("title", "Title"),
    ("body", "Body"),
    ("button", "Button label"),
    ("link", "Link URL"),
];

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContentInput {
    pub name: String,
    pub title: String,
    pub body: String,
    pub button: String,
    pub link: String,
}

impl ContentInput {
    pub fn field(&self, key: &str) -> &str {
        match key {
            "title" => &self.title,
            "body" => &self.body,
            "button" => &self.button,
            _ => &self.link,
        }
    }

    /// What is wrong, naming the field: an empty or long name, a malformed
    /// template, or a link that does not start with `https://`, `http://`
    /// or `/` (so no value can turn it into `javascript:`).
    pub fn check(&self) -> Result<(), String> {
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(format!(
                "Name: 1 to {MAX_NAME_CHARS} characters, no control characters"
            ));
        }
        for (key, label) in FIELDS {
            Template::parse(self.field(key)).map_err(|e| format!("{label}: {e}"))?;
        }
        let link = self.link.trim();
        let safe = ["https://", "http://", "/"]
            .iter()
            .any(|p| link.to_ascii_lowercase().starts_with(p))
            && !link.starts_with("//");
        if !link.is_empty() && !safe {
            return Err(
                "Link URL: start it with https://, http:// or / (a path on your site)".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_and_named() {
        let ok = ContentInput {
            name: "Renewal".into(),
            title: "Hi {firstName|there}".into(),
            link: "https://app.example.com/billing?plan={plan}".into(),
            ..Default::default()
        };
        assert_eq!(ok.check(), Ok(()));
        let bad = |f: &dyn Fn(&mut ContentInput)| {
            let mut c = ok.clone();
            f(&mut c);
            c.check().unwrap_err()
        };
        assert!(bad(&|c| c.name = " ".into()).starts_with("Name"));
        assert!(bad(&|c| c.body = "x {plan".into()).starts_with("Body: line 1, column 3"));
        assert!(bad(&|c| c.link = "{url}".into()).starts_with("Link URL"));
        assert!(bad(&|c| c.link = "javascript:alert(1)".into()).starts_with("Link URL"));
        assert!(bad(&|c| c.link = "//evil.example".into()).starts_with("Link URL"));
        let mut rel = ok.clone();
        rel.link = "/billing".into();
        assert_eq!(rel.check(), Ok(()));
    }
}
