//! Distribution charts as server-rendered SVG. Colours come from the
//! stylesheet (`.chart`), so both themes read them; labels are text nodes,
//! so a visitor's value can never become markup.

use crate::model::distribution::{Bar, Distribution};
use leptos::prelude::*;

const WIDTH: f64 = 640.0;
/// Longest label drawn whole; the full text is in its tooltip.
const LABEL_CHARS: usize = 28;

fn shorten(s: &str) -> String {
    if s.chars().count() > LABEL_CHARS {
        let cut: String = s.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        s.to_string()
    }
}

fn thousands(n: i64) -> String {
    super::users::thousands(n)
}

/// Horizontal bars, most frequent value on top.
#[component]
fn TopBars(bars: Vec<Bar>, others: i64) -> impl IntoView {
    const ROW: f64 = 26.0;
    const LABEL: f64 = 210.0;
    const COUNT: f64 = 90.0;
    let max = bars.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let height = ROW * bars.len() as f64 + 8.0;
    let label = format!("Top {} values", bars.len());
    view! {
        <svg class="chart" role="img" viewBox=format!("0 0 {WIDTH} {height}") aria-label=label>
            {bars.into_iter().enumerate().map(|(i, b)| {
                let y = 4.0 + ROW * i as f64;
                let w = ((WIDTH - LABEL - COUNT) * b.count as f64 / max).max(1.0);
                view! {
                    <g>
                        <title>{format!("{}: {} users", b.label, thousands(b.count))}</title>
                        <text x=LABEL - 8.0 y=y + ROW / 2.0 text-anchor="end" dominant-baseline="middle">{shorten(&b.label)}</text>
                        <rect class="bar" x=LABEL y=y + 4.0 width=w height=ROW - 8.0 rx="2" />
                        <text class="count" x=LABEL + w + 6.0 y=y + ROW / 2.0 dominant-baseline="middle">{thousands(b.count)}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
        {(others > 0).then(|| view! { <p class="help">{format!("and {} more of other values", thousands(others))}</p> })}
    }
}

/// Vertical bars, one per bin, lowest on the left.
#[component]
fn Histogram(bars: Vec<Bar>) -> impl IntoView {
    const HEIGHT: f64 = 200.0;
    const AXIS: f64 = 22.0;
    let max = bars.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let n = bars.len().max(1) as f64;
    let step = WIDTH / n;
    let first = bars.first().map(|b| b.label.clone()).unwrap_or_default();
    let last = bars.last().map(|b| b.label.clone()).unwrap_or_default();
    let label = format!("Histogram in {} bins, from {first} to {last}", bars.len());
    view! {
        <svg class="chart" role="img" viewBox=format!("0 0 {WIDTH} {}", HEIGHT + AXIS) aria-label=label>
            {bars.into_iter().enumerate().map(|(i, b)| {
                let h = ((HEIGHT - 16.0) * b.count as f64 / max).max(if b.count > 0 { 1.0 } else { 0.0 });
                view! {
                    <g>
                        <title>{format!("{}: {} users", b.label, thousands(b.count))}</title>
                        <rect class="bar" x=step * i as f64 + 1.0 y=HEIGHT - h width=(step - 2.0).max(1.0) height=h rx="1" />
                    </g>
                }
            }).collect_view()}
            <line class="axis" x1="0" x2=WIDTH y1=HEIGHT y2=HEIGHT />
            <text x="0" y=HEIGHT + 16.0>{first}</text>
            <text x=WIDTH y=HEIGHT + 16.0 text-anchor="end">{last}</text>
        </svg>
    }
}

/// The chart, and the same figures as a table one click away.
#[component]
pub fn Chart(distribution: Distribution) -> impl IntoView {
    let (bars, chart) = match distribution {
        Distribution::Top { bars, others } => {
            (bars.clone(), view! { <TopBars bars others /> }.into_any())
        }
        Distribution::Histogram { bars } => (bars.clone(), view! { <Histogram bars /> }.into_any()),
    };
    if bars.iter().all(|b| b.count == 0) {
        return view! { <p>"No user holds a value yet."</p> }.into_any();
    }
    view! {
        <figure class="distribution">
            {chart}
            <details>
                <summary>"Show as a table"</summary>
                <table class="users">
                    <thead><tr><th scope="col">"Value"</th><th scope="col">"Users"</th></tr></thead>
                    <tbody>
                        {bars.into_iter().map(|b| view! {
                            <tr><td>{b.label}</td><td class="num">{thousands(b.count)}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        </figure>
    }
    .into_any()
}
