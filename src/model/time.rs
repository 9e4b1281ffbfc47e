//! Times as people read them.

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago", "4 months ago",
/// "2 years ago"; times in the future read "in the future".
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - then_ms) / 1000;
    if secs < -60 {
        return "in the future".into();
    }
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s if s < 86_400 * 31 => plural(s / 86_400, "day"),
        s if s < 86_400 * 365 => plural(s / (86_400 * 30), "month"),
        s => plural(s / (86_400 * 365), "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::ago;

    #[test]
    fn reads_like_a_person_would_say_it() {
        let now = 1_800_000_000_000;
        let before = |s: i64| ago(now - s * 1000, now);
        assert_eq!(before(5), "just now");
        assert_eq!(before(60), "1 minute ago");
        assert_eq!(before(125), "2 minutes ago");
        assert_eq!(before(3 * 3600 + 5), "3 hours ago");
        assert_eq!(before(86_400), "1 day ago");
        assert_eq!(before(20 * 86_400), "20 days ago");
        assert_eq!(before(95 * 86_400), "3 months ago");
        assert_eq!(before(800 * 86_400), "2 years ago");
        assert_eq!(before(-3600), "in the future");
    }
}

/// `15 Jun 2026, 10:00 UTC` (the date alone at midnight UTC).
pub fn display_date(d: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if d.hour() == 0 && d.minute() == 0 && d.second() == 0 {
        d.format("%-d %b %Y").to_string()
    } else {
        d.format("%-d %b %Y, %H:%M UTC").to_string()
    }
}

#[cfg(test)]
mod display_tests {
    use super::display_date;
    use crate::model::attribute::parse_date;

    #[test]
    fn dates_read_day_month_year() {
        assert_eq!(
            display_date(&parse_date("2026-06-15").unwrap()),
            "15 Jun 2026"
        );
        assert_eq!(
            display_date(&parse_date("2026-06-05T10:07:00Z").unwrap()),
            "5 Jun 2026, 10:07 UTC"
        );
    }
}
