//! `netlens chart --db FILE --out FILE.png|.svg --kind traffic|protocols|talkers`: the history
//! as an image, drawn with plotters.
//!
//! - `traffic`: bit/s over time, and packets/s by transport below it;
//! - `protocols`: packets by transport, and bytes by application (from the flow records);
//! - `talkers`: the top hosts by bytes, each bar split into bytes out and in.
//!
//! Text is rendered with a font compiled into the binary (a DejaVu Sans subset, see
//! `assets/fonts/`) through plotters' `ab_glyph` feature, so no system font library or
//! fontconfig is needed. The format follows the file extension.

use std::path::Path;
use std::sync::OnceLock;

use clap::{Args, ValueEnum};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::report::SECONDS_UP_TO;
use super::{db_error, open, Failure, RangeArgs};
use crate::engine::series::Point;
use crate::store::query::{self, Filter, Talker};
use crate::store::Resolution;
use crate::time::Timestamp;
use crate::ui::console::report::{human_bytes, human_rate};

/// DejaVu Sans (Bitstream Vera license, see assets/fonts/), cut down to Latin-1 and a few
/// symbols to keep the binary small.
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
/// The family name the charts ask plotters for. Text sizes are all even on purpose: plotters'
/// ab_glyph renderer places each glyph at `size / 2 + top` truncated toward zero, so with an
/// odd size low glyphs ("." and ",") sit a pixel above the baseline of tall ones.
const FAMILY: &str = "sans-serif";

/// Colors of the log palette (TCP green, UDP blue, ICMP yellow), in darker tones that read on
/// white.
const TCP: RGBColor = RGBColor(46, 139, 87);
const UDP: RGBColor = RGBColor(52, 101, 164);
const ICMP: RGBColor = RGBColor(214, 150, 0);
const OTHER: RGBColor = RGBColor(128, 128, 128);
const ACCENT: RGBColor = RGBColor(204, 65, 37);

/// At most this many intervals are drawn; gaps inside it are drawn as zero.
const MAX_FILLED: i64 = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ChartKind {
    /// Bit/s over time and packets/s by transport.
    #[default]
    Traffic,
    /// Packets by transport and bytes by application.
    Protocols,
    /// Top hosts by bytes, out and in.
    Talkers,
}

#[derive(Debug, Clone, Args)]
pub struct ChartArgs {
    #[command(flatten)]
    pub range: RangeArgs,

    /// The image to write: its extension (.png or .svg) picks the format.
    #[arg(long, value_name = "FILE")]
    pub out: std::path::PathBuf,

    /// What to draw.
    #[arg(long, value_enum, default_value_t = ChartKind::Traffic)]
    pub kind: ChartKind,

    /// Hosts in the talkers chart.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=50))]
    pub top: u64,

    /// Image width in pixels.
    #[arg(long, value_name = "PX", default_value_t = 1200,
          value_parser = clap::value_parser!(u32).range(300..=8000))]
    pub width: u32,

    /// Image height in pixels.
    #[arg(long, value_name = "PX", default_value_t = 700,
          value_parser = clap::value_parser!(u32).range(200..=8000))]
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageFormat {
    Png,
    Svg,
}

/// What a chart shows, read from the database before drawing.
enum Data {
    Traffic {
        points: Vec<Point>,
        step: i64,
        title: String,
    },
    Protocols {
        transports: Vec<(String, u64)>,
        apps: Vec<(String, u64)>,
        title: String,
    },
    Talkers {
        hosts: Vec<Talker>,
        title: String,
    },
}

pub fn run(args: &ChartArgs) -> Result<(), Failure> {
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("png") => ImageFormat::Png,
        Some("svg") => ImageFormat::Svg,
        _ => {
            return Err(Failure::Usage(format!(
                "--out {}: the file name must end in .png or .svg",
                args.out.display()
            )))
        }
    };
    let (conn, f) = open(&args.range)?;
    let data = gather(&conn, &f, args).map_err(db_error(&args.range.db))?;
    if data.is_empty() {
        return Err(Failure::Runtime(format!(
            "nothing to chart: {} has no traffic{}",
            args.range.db.display(),
            if f.since.is_some() || f.until.is_some() || f.host.is_some() {
                " in that range"
            } else {
                ""
            }
        )));
    }
    register_font()?;
    let size = (args.width, args.height);
    let drawn = match format {
        ImageFormat::Png => draw(
            BitMapBackend::new(&args.out, size).into_drawing_area(),
            &data,
        ),
        ImageFormat::Svg => draw(SVGBackend::new(&args.out, size).into_drawing_area(), &data),
    };
    drawn.map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", args.out.display())))
}

fn register_font() -> Result<(), Failure> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok()
            && plotters::style::register_font(FAMILY, FontStyle::Bold, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Failure::Runtime(
            "the built-in chart font is damaged".into(),
        ))
    }
}

impl Data {
    fn is_empty(&self) -> bool {
        match self {
            Data::Traffic { points, .. } => points.is_empty(),
            Data::Protocols { transports, .. } => transports.iter().all(|(_, n)| *n == 0),
            Data::Talkers { hosts, .. } => hosts.is_empty(),
        }
    }
}

fn range_title(db: &Path, f: &Filter) -> String {
    let name = db.file_name().map_or_else(
        || db.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut t = name;
    if let Some(h) = &f.host {
        t.push_str(&format!(", host {h}"));
    }
    t
}

fn gather(conn: &rusqlite::Connection, f: &Filter, args: &ChartArgs) -> rusqlite::Result<Data> {
    let title = range_title(&args.range.db, f);
    Ok(match args.kind {
        ChartKind::Traffic => {
            let (points, step) = match &f.host {
                Some(ip) => (query::host_series(conn, f, ip)?, 60),
                None => {
                    let t = query::totals(conn, f)?;
                    let span = match (t.first_t, t.last_t) {
                        (Some(a), Some(b)) => (b - a) as f64,
                        _ => 0.0,
                    };
                    let res = if span <= SECONDS_UP_TO {
                        Resolution::Second
                    } else {
                        Resolution::Minute
                    };
                    (query::series(conn, f, res)?, res.step())
                }
            };
            Data::Traffic {
                points: fill_gaps(points, step),
                step,
                title,
            }
        }
        ChartKind::Protocols => {
            let transports = match &f.host {
                None => {
                    let t = query::totals(conn, f)?;
                    vec![
                        ("TCP", t.tcp),
                        ("UDP", t.udp),
                        ("ICMP", t.icmp),
                        ("other", t.other),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect()
                }
                Some(_) => query::flow_protocols(conn, f)?
                    .into_iter()
                    .map(|p| (p.app, p.packets))
                    .collect(),
            };
            let apps = query::apps(conn, f)?
                .into_iter()
                .take(10)
                .map(|a| (a.app, a.bytes))
                .collect();
            Data::Protocols {
                transports,
                apps,
                title,
            }
        }
        ChartKind::Talkers => {
            let n = args.top as usize;
            let hosts = match &f.host {
                Some(ip) => query::peers(conn, f, ip, n)?,
                None => query::top_talkers(conn, f, n)?,
            };
            Data::Talkers { hosts, title }
        }
    })
}

/// Adds zero points for intervals without traffic, so lines drop to zero instead of
/// bridging the gap.
fn fill_gaps(points: Vec<Point>, step: i64) -> Vec<Point> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return points;
    };
    if (last.t - first.t) / step.max(1) > MAX_FILLED {
        return points;
    }
    let mut out = Vec::with_capacity(points.len());
    let mut next = first.t;
    for p in points {
        while next < p.t {
            out.push(Point {
                t: next,
                ..Point::default()
            });
            next += step;
        }
        out.push(p);
        next = p.t + step;
    }
    out
}

/// A time axis label: time of day, with the date when the chart spans days.
fn time_label(t: f64, span: f64) -> String {
    let s = Timestamp((t * 1e9) as i64).rfc3339();
    if span > 86_400.0 {
        s.get(5..16).unwrap_or(&s).replace('T', " ")
    } else {
        s.get(11..19).unwrap_or(&s).to_string()
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &Data) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    match data {
        Data::Traffic {
            points,
            step,
            title,
        } => draw_traffic(&root, points, *step, title).map_err(e)?,
        Data::Protocols {
            transports,
            apps,
            title,
        } => draw_protocols(&root, transports, apps, title).map_err(e)?,
        Data::Talkers { hosts, title } => draw_talkers(&root, hosts, title).map_err(e)?,
    }
    root.present().map_err(e)
}

/// One named, colored line of (time, value) points.
type Line = (&'static str, RGBColor, Vec<(f64, f64)>);

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_traffic<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[Point],
    step: i64,
    title: &str,
) -> DrawResult<DB> {
    let per = if step == 1 { "second" } else { "minute" };
    let root = root.titled(
        &format!("Traffic over time — {title}"),
        (FAMILY, 26).into_font().style(FontStyle::Bold),
    )?;
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 / 2);
    let x0 = points.first().map_or(0, |p| p.t) as f64;
    let x1 = points.last().map_or(0, |p| p.t + step) as f64;
    let x1 = if x1 > x0 { x1 } else { x0 + step as f64 };
    let span = x1 - x0;
    let secs = step as f64;

    let bits: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.t as f64, p.bytes as f64 * 8.0 / secs))
        .collect();
    let ymax = bits.iter().map(|(_, y)| *y).fold(0.0, f64::max).max(1.0) * 1.1;
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("bit/s (per {per})"), (FAMILY, 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| time_label(*x, span))
        .y_label_formatter(&|y| human_rate(*y, "bit/s"))
        .label_style((FAMILY, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart.draw_series(
        AreaSeries::new(bits.iter().copied(), 0.0, UDP.mix(0.25)).border_style(UDP.stroke_width(2)),
    )?;

    let pps = |f: fn(&Point) -> u64| -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|p| (p.t as f64, f(p) as f64 / secs))
            .collect()
    };
    let lines: [Line; 4] = [
        ("TCP", TCP, pps(|p| p.tcp)),
        ("UDP", UDP, pps(|p| p.udp)),
        ("ICMP", ICMP, pps(|p| p.icmp)),
        ("other", OTHER, pps(|p| p.other)),
    ];
    let ymax = lines
        .iter()
        .flat_map(|(_, _, v)| v.iter().map(|(_, y)| *y))
        .fold(0.0, f64::max)
        .max(1.0)
        // Headroom for the legend in the upper right corner.
        * 1.4;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(format!("packets/s by transport (per {per})"), (FAMILY, 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(90)
        .build_cartesian_2d(x0..x1, 0.0..ymax)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| time_label(*x, span))
        .y_label_formatter(&|y| human_rate(*y, "pkt/s"))
        .label_style((FAMILY, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (name, color, data) in lines {
        if data.iter().all(|(_, y)| *y == 0.0) {
            continue;
        }
        chart
            .draw_series(LineSeries::new(data, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

/// Vertical bars with category labels under them.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    items: &[(String, u64)],
    colors: &[RGBColor],
    value_label: &dyn Fn(u64) -> String,
) -> DrawResult<DB> {
    let n = items.len().max(1) as u32;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64 * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 18))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), 0.0..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(items.len().max(1))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => items
                .get(*i as usize)
                .map(|(name, _)| short(name, 12))
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| value_label(*y as u64))
        .label_style((FAMILY, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart.draw_series(items.iter().enumerate().map(|(i, (_, v))| {
        let color = colors
            .get(i % colors.len().max(1))
            .copied()
            .unwrap_or(OTHER);
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i as u32), 0.0),
                (SegmentValue::Exact(i as u32 + 1), *v as f64),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 14, 14);
        bar
    }))?;
    // The value above each bar.
    chart.draw_series(items.iter().enumerate().map(|(i, (_, v))| {
        Text::new(
            value_label(*v),
            (SegmentValue::CenterOf(i as u32), *v as f64),
            (FAMILY, 12).into_font().into_text_style(area).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Bottom,
                ),
            ),
        )
    }))?;
    Ok(())
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn draw_protocols<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    transports: &[(String, u64)],
    apps: &[(String, u64)],
    title: &str,
) -> DrawResult<DB> {
    let root = root.titled(
        &format!("Protocol mix — {title}"),
        (FAMILY, 26).into_font().style(FontStyle::Bold),
    )?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 * 2 / 5);
    let colors: Vec<RGBColor> = transports
        .iter()
        .map(|(name, _)| match name.as_str() {
            "TCP" => TCP,
            "UDP" => UDP,
            "ICMP" | "ICMP6" => ICMP,
            _ => OTHER,
        })
        .collect();
    bars(&left, "packets by transport", transports, &colors, &|v| {
        compact_count(v)
    })?;
    if !apps.is_empty() {
        bars(
            &right,
            "bytes by application (flows)",
            apps,
            &[ACCENT, UDP, TCP, ICMP, OTHER],
            &human_bytes,
        )?;
    }
    Ok(())
}

/// 1234567 → "1.2M": axis labels stay short.
fn compact_count(v: u64) -> String {
    match v {
        0..1_000 => v.to_string(),
        1_000..1_000_000 => format!("{:.1}k", v as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", v as f64 / 1e6),
        _ => format!("{:.1}G", v as f64 / 1e9),
    }
}

fn draw_talkers<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    hosts: &[Talker],
    title: &str,
) -> DrawResult<DB> {
    let root = root.titled(
        &format!("Top talkers by bytes — {title}"),
        (FAMILY, 26).into_font().style(FontStyle::Bold),
    )?;
    let n = hosts.len().max(1) as u32;
    let max = hosts.iter().map(|h| h.bytes).max().unwrap_or(0).max(1) as f64 * 1.05;
    // The largest on top: row i from the top is segment n - 1 - i.
    let label = |i: u32| -> String {
        // The mesh may ask for segments past the last one: no label there.
        let Some(h) = n.checked_sub(i + 1).and_then(|row| hosts.get(row as usize)) else {
            return String::new();
        };
        match h.names.as_deref().and_then(|s| s.split(',').next()) {
            Some(name) => format!("{} ({})", h.ip, short(name, 24)),
            None => h.ip.clone(),
        }
    };
    let label_width = (0..n).map(|i| label(i).chars().count()).max().unwrap_or(10) as u32 * 8 + 16;
    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .x_label_area_size(32)
        .y_label_area_size(label_width.clamp(80, 480))
        .build_cartesian_2d(0.0..max, (0u32..n - 1).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(hosts.len().max(1))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => label(*i),
            _ => String::new(),
        })
        .x_label_formatter(&|x| human_bytes(*x as u64))
        .x_desc("bytes")
        .label_style((FAMILY, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let seg = |i: usize| n.saturating_sub(i as u32 + 1);
    chart
        .draw_series(hosts.iter().enumerate().map(|(i, h)| {
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(seg(i))),
                    (h.bytes_out as f64, SegmentValue::Exact(seg(i) + 1)),
                ],
                ACCENT.filled(),
            );
            r.set_margin(5, 5, 0, 0);
            r
        }))?
        .label("bytes out")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], ACCENT.filled()));
    chart
        .draw_series(hosts.iter().enumerate().map(|(i, h)| {
            let mut r = Rectangle::new(
                [
                    (h.bytes_out as f64, SegmentValue::Exact(seg(i))),
                    (h.bytes as f64, SegmentValue::Exact(seg(i) + 1)),
                ],
                UDP.filled(),
            );
            r.set_margin(5, 5, 0, 0);
            r
        }))?
        .label("bytes in")
        .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], UDP.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}
