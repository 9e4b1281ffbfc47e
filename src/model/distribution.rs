//! How an attribute's values are spread: the shape the Attributes page
//! draws, and the bins of its histograms.

use crate::model::attribute::format_number;
use crate::model::time::display_date;
use serde::{Deserialize, Serialize};

/// One bar: a value (or a bin) and how many users hold it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Distribution {
    /// Strings, booleans, array elements: the most frequent values first;
    /// `others` counts the values (or elements) not shown.
    Top { bars: Vec<Bar>, others: i64 },
    /// Numbers and dates: equal-width bins from the lowest value up.
    Histogram { bars: Vec<Bar> },
}

/// Bars a chart shows at most.
pub const TOP_VALUES: usize = 10;
/// Bins a histogram aims at.
const TARGET_BINS: f64 = 12.0;

/// Equal bins covering `[min, max]`: the first bin's low end and the
/// width, both round (1, 2 or 5 times a power of ten; for dates an hour,
/// a day, a week, 30 days, a quarter or a year), and the number of bins.
pub fn bins(min: f64, max: f64, dates: bool) -> (f64, f64, usize) {
    const HOUR: f64 = 3_600_000.0;
    const DAY: f64 = 24.0 * HOUR;
    let raw = ((max - min) / TARGET_BINS).max(f64::MIN_POSITIVE);
    let width = if dates {
        [
            HOUR,
            6.0 * HOUR,
            DAY,
            7.0 * DAY,
            30.0 * DAY,
            91.0 * DAY,
            365.0 * DAY,
        ]
        .into_iter()
        .find(|w| *w >= raw)
        .unwrap_or_else(|| (raw / (365.0 * DAY)).ceil() * 365.0 * DAY)
    } else if max == min {
        1.0
    } else {
        let magnitude = 10f64.powf(raw.log10().floor());
        let w = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * magnitude)
            .find(|w| *w >= raw)
            .unwrap_or(10.0 * magnitude);
        // Whole numbers (counts, seats) get whole bins.
        if min.fract() == 0.0 && max.fract() == 0.0 {
            w.max(1.0)
        } else {
            w
        }
    };
    let low = (min / width).floor() * width;
    let n = (((max - low) / width).floor() as usize + 1).min(TARGET_BINS as usize * 3);
    (low, width, n)
}

/// The label of the bin starting at `low`.
pub fn bin_label(low: f64, width: f64, dates: bool) -> String {
    if dates {
        let at = chrono::DateTime::from_timestamp_millis(low as i64).unwrap_or_default();
        display_date(&at)
    } else {
        // Bin edges are sums of floats: print them rounded (0.6, not 0.6000000000000001).
        let round = |x: f64| format_number((x * 1e9).round() / 1e9);
        format!("{} – {}", round(low), round(low + width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_bins_are_round_and_cover_the_range() {
        assert_eq!(bins(0.0, 100.0, false), (0.0, 10.0, 11));
        let (low, width, n) = bins(3.0, 47.0, false);
        assert_eq!((low, width), (0.0, 5.0));
        assert!(low + width * n as f64 > 47.0);
        assert_eq!(bins(7.0, 7.0, false), (7.0, 1.0, 1));
        let (low, width, n) = bins(-0.013, 0.2, false);
        assert!((width - 0.02).abs() < 1e-12 && low <= -0.013 && low + width * n as f64 > 0.2);
        assert_eq!(bin_label(10.0, 5.0, false), "10 – 15");
        assert_eq!(
            bins(3.0, 5.0, false),
            (3.0, 1.0, 3),
            "whole numbers, whole bins"
        );
        assert_eq!(bin_label(0.2 * 3.0, 0.2, false), "0.6 – 0.8");
    }

    #[test]
    fn date_bins_use_calendar_widths() {
        let day = 86_400_000.0;
        let (low, width, n) = bins(0.0, 60.0 * day, true);
        assert_eq!((low, width, n), (0.0, 7.0 * day, 9));
        assert_eq!(bin_label(0.0, width, true), "1 Jan 1970");
        assert_eq!(bins(day, day, true).2, 1);
    }
}
