//! Inline SVG bar charts (SVG 1.1 / SVG 2), drawn from counts alone.
//!
//! Guarantees: every coordinate is a finite number (the scale's maximum is
//! at least 1, so nothing divides by zero and no `NaN` or `inf` reaches the
//! markup); every label and tooltip is escaped; each chart is an image with
//! an accessible name (`role="img"`, `aria-label`, `<title>`, `<desc>`).

use std::fmt::Write as _;

use super::escape::Esc;

/// The fill of an ordinary bar.
const BAR_FILL: &str = "#2f5d8a";
/// The fill of a highlighted bar (overdue records).
const ALERT_FILL: &str = "#b3261e";
/// The colour of axes and labels.
const INK: &str = "#333333";
/// The colour of grid lines.
const GRID: &str = "#d9d9d9";

/// One bar: its label, its value, and whether it is drawn as an alert.
pub(crate) struct Bar {
    /// The label under (or beside) the bar.
    pub label: String,
    /// The count the bar stands for.
    pub value: u64,
    /// Drawn in the alert colour when true.
    pub alert: bool,
}

/// The chart's accessible name and longer description.
pub(crate) struct Caption<'a> {
    /// Short name: `<title>` and `aria-label`.
    pub title: &'a str,
    /// Longer description: `<desc>`, e.g. the figures in words.
    pub desc: &'a str,
    /// Shown inside the chart when there is nothing to draw.
    pub empty: &'a str,
}

/// A number as an SVG coordinate: one decimal, and `0` for anything that
/// is not finite, so that no `NaN` or `inf` can reach the markup.
fn coord(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.1}")
    } else {
        "0".to_owned()
    }
}

/// The value axis: a top value at least 1 and at least `max`, and the step
/// between tick marks, from the 1-2-5 series, with at most 5 steps.
fn value_axis(max: u64) -> (u64, u64) {
    if max <= 5 {
        return (max.max(1), 1);
    }
    let mut magnitude: u64 = 1;
    loop {
        for factor in [1u64, 2, 5] {
            let step = magnitude.saturating_mul(factor);
            if step.saturating_mul(5) >= max {
                // Near u64::MAX the rounded top overflows: one step to max.
                return match max.div_ceil(step).checked_mul(step) {
                    Some(top) => (top, step),
                    None => (max, max),
                };
            }
        }
        magnitude = magnitude.saturating_mul(10);
    }
}

/// `value / top` as a fraction in `[0, 1]`; `top` is never 0 (see
/// [`value_axis`]), and a 0 top still gives 0 rather than `NaN`.
fn fraction(value: u64, top: u64) -> f64 {
    if top == 0 {
        return 0.0;
    }
    (value as f64 / top as f64).clamp(0.0, 1.0)
}

/// A label cut to `max` characters, with an ellipsis when cut.
fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let mut short: String = label.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// Opens an `<svg>` image with its accessible name and description.
fn open(out: &mut String, width: u32, height: u32, caption: &Caption<'_>) {
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{title}\" \
         font-family=\"sans-serif\" font-size=\"12\">\
         <title>{title}</title><desc>{desc}</desc>",
        title = Esc(caption.title),
        desc = Esc(caption.desc),
    );
}

/// A vertical bar chart: one bar per entry, left to right, with a value
/// axis, grid lines, a value over each non-zero bar, and labels turned 45°
/// under the bars.
/// When every value is zero the chart says `caption.empty` over the plot.
pub(crate) fn vertical_bars(bars: &[Bar], caption: &Caption<'_>, value_name: &str) -> String {
    const WIDTH: u32 = 960;
    const HEIGHT: u32 = 320;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 72.0;
    let plot_w = f64::from(WIDTH) - LEFT - RIGHT;
    let plot_h = f64::from(HEIGHT) - TOP - BOTTOM;
    let base = TOP + plot_h;
    let (top, step) = value_axis(bars.iter().map(|b| b.value).max().unwrap_or(0));

    let mut out = String::new();
    open(&mut out, WIDTH, HEIGHT, caption);
    // Grid lines and tick labels of the value axis.
    for k in 0..=top / step.max(1) {
        let tick = k.saturating_mul(step);
        let y = base - fraction(tick, top) * plot_h;
        let _ = write!(
            out,
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{GRID}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"{INK}\">{label}</text>",
            x1 = coord(LEFT),
            x2 = coord(LEFT + plot_w),
            y = coord(y),
            tx = coord(LEFT - 6.0),
            ty = coord(y + 4.0),
            label = Esc(tick),
        );
    }
    let _ = write!(
        out,
        "<text x=\"14\" y=\"{y}\" transform=\"rotate(-90 14 {y})\" text-anchor=\"middle\" \
         fill=\"{INK}\">{name}</text>",
        y = coord(TOP + plot_h / 2.0),
        name = Esc(value_name),
    );
    let slot = plot_w / bars.len().max(1) as f64;
    // Bars stay slim when there are few of them.
    let bar_w = (slot * 0.7).min(48.0);
    if bars.iter().all(|b| b.value == 0) {
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" fill=\"{INK}\">{empty}</text>",
            x = coord(LEFT + plot_w / 2.0),
            y = coord(TOP + plot_h / 2.0),
            empty = Esc(caption.empty),
        );
    }
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let h = fraction(bar.value, top) * plot_h;
        let fill = if bar.alert { ALERT_FILL } else { BAR_FILL };
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{fill}\">\
             <title>{label}: {value}</title></rect>",
            x = coord(x),
            y = coord(base - h),
            w = coord(bar_w),
            h = coord(h),
            label = Esc(&bar.label),
            value = Esc(bar.value),
        );
        if bar.value > 0 {
            let _ = write!(
                out,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{INK}\">{value}</text>",
                x = coord(x + bar_w / 2.0),
                y = coord(base - h - 4.0),
                value = Esc(bar.value),
            );
        }
        let lx = x + bar_w / 2.0;
        let ly = base + 14.0;
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{y}\" transform=\"rotate(-45 {x} {y})\" text-anchor=\"end\" \
             font-size=\"11\" fill=\"{fill}\">{label}</text>",
            x = coord(lx),
            y = coord(ly),
            fill = if bar.alert { ALERT_FILL } else { INK },
            label = Esc(shorten(&bar.label, 12)),
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{x}\" y1=\"{top}\" x2=\"{x}\" y2=\"{base}\" stroke=\"{INK}\"/>\
         <line x1=\"{x}\" y1=\"{base}\" x2=\"{x2}\" y2=\"{base}\" stroke=\"{INK}\"/></svg>",
        x = coord(LEFT),
        top = coord(TOP),
        base = coord(base),
        x2 = coord(LEFT + plot_w),
    );
    out
}

/// A horizontal bar chart: one row per entry, top to bottom, the label on
/// the left and the value after the bar. With no entries it says
/// `caption.empty`.
pub(crate) fn horizontal_bars(bars: &[Bar], caption: &Caption<'_>) -> String {
    const WIDTH: u32 = 960;
    const LEFT: f64 = 200.0;
    const RIGHT: f64 = 80.0;
    const ROW: f64 = 30.0;
    const PAD: f64 = 12.0;
    let rows = bars.len().max(1);
    let height = u32::try_from(rows)
        .unwrap_or(u32::MAX)
        .saturating_mul(30)
        .saturating_add(24);
    let plot_w = f64::from(WIDTH) - LEFT - RIGHT;
    let (top, _) = value_axis(bars.iter().map(|b| b.value).max().unwrap_or(0));

    let mut out = String::new();
    open(&mut out, WIDTH, height, caption);
    if bars.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" fill=\"{INK}\">{empty}</text>",
            x = coord(f64::from(WIDTH) / 2.0),
            y = coord(PAD + ROW / 2.0 + 4.0),
            empty = Esc(caption.empty),
        );
        out.push_str("</svg>");
        return out;
    }
    for (i, bar) in bars.iter().enumerate() {
        let y = PAD + ROW * i as f64;
        let w = fraction(bar.value, top) * plot_w;
        let fill = if bar.alert { ALERT_FILL } else { BAR_FILL };
        let _ = write!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"{INK}\">{label}</text>\
             <rect x=\"{x}\" y=\"{ry}\" width=\"{w}\" height=\"{h}\" fill=\"{fill}\">\
             <title>{full}: {value}</title></rect>\
             <text x=\"{vx}\" y=\"{ty}\" fill=\"{INK}\">{value}</text>",
            lx = coord(LEFT - 8.0),
            ty = coord(y + ROW / 2.0 + 4.0),
            label = Esc(shorten(&bar.label, 28)),
            x = coord(LEFT),
            ry = coord(y + 5.0),
            w = coord(w),
            h = coord(ROW - 10.0),
            full = Esc(&bar.label),
            value = Esc(bar.value),
            vx = coord(LEFT + w + 6.0),
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" stroke=\"{INK}\"/></svg>",
        x = coord(LEFT),
        y1 = coord(PAD),
        y2 = coord(PAD + ROW * rows as f64),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caption() -> Caption<'static> {
        Caption {
            title: "t",
            desc: "d",
            empty: "No policies",
        }
    }

    #[test]
    fn value_axis_is_at_least_one_and_covers_the_maximum() {
        for max in [0u64, 1, 3, 5, 6, 7, 11, 99, 100, 101, 12_345, u64::MAX] {
            let (top, step) = value_axis(max);
            assert!(top >= 1 && top >= max, "max {max}: top {top}");
            assert!(step >= 1 && top % step == 0, "max {max}: step {step}");
            assert!(
                top / step <= 5 || max == u64::MAX,
                "max {max}: {top}/{step}"
            );
        }
        assert_eq!(value_axis(0), (1, 1));
        assert_eq!(value_axis(7), (8, 2));
        assert_eq!(value_axis(101), (150, 50));
    }

    #[test]
    fn empty_and_zero_charts_have_only_finite_coordinates() {
        let zeros = [
            Bar {
                label: "overdue".into(),
                value: 0,
                alert: true,
            },
            Bar {
                label: "2027-01".into(),
                value: 0,
                alert: false,
            },
        ];
        for svg in [
            vertical_bars(&zeros, &caption(), "records"),
            vertical_bars(&[], &caption(), "records"),
            horizontal_bars(&zeros, &caption()),
            horizontal_bars(&[], &caption()),
        ] {
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        }
        assert!(horizontal_bars(&[], &caption()).contains(">No policies</text>"));
        assert!(vertical_bars(&zeros, &caption(), "records").contains(">No policies</text>"));
    }

    #[test]
    fn bar_heights_follow_the_values() {
        let bars = [
            Bar {
                label: "a".into(),
                value: 4,
                alert: false,
            },
            Bar {
                label: "b".into(),
                value: 2,
                alert: false,
            },
        ];
        let svg = vertical_bars(&bars, &caption(), "records");
        // The plot is 228 units high and the axis tops out at 4.
        assert!(svg.contains("height=\"228.0\""), "{svg}");
        assert!(svg.contains("height=\"114.0\""), "{svg}");
    }

    #[test]
    fn labels_are_escaped_and_shortened() {
        let bars = [Bar {
            label: "<b>\"policy\"</b> with a very long name indeed".into(),
            value: 1,
            alert: false,
        }];
        let svg = horizontal_bars(&bars, &caption());
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("&lt;b&gt;&quot;policy&quot;"));
        assert!(svg.contains('…'));
    }
}
