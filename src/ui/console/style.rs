//! Colors of the packet log, decided once at start (no per-line ANSI stripping on the hot
//! path), and a guard that keeps packet-derived text from driving the terminal.

use std::fmt;
use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    /// Color when writing to a terminal and NO_COLOR is unset.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves `auto` against the stream and the NO_COLOR / CLICOLOR_FORCE conventions.
    pub fn enabled_for(self, stream: &impl IsTerminal) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                let set = |v: &str| std::env::var_os(v).is_some_and(|x| !x.is_empty() && x != "0");
                if std::env::var_os("NO_COLOR").is_some_and(|x| !x.is_empty()) {
                    false
                } else {
                    set("CLICOLOR_FORCE") || stream.is_terminal()
                }
            }
        }
    }
}

/// The palette of the log (seed 001): TCP green, UDP blue, ICMP yellow, ARP cyan, DNS magenta,
/// TCP flags red. With colors off every style is empty, so the same code writes plain text.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub tcp: Style,
    pub udp: Style,
    pub icmp: Style,
    pub arp: Style,
    pub dns: Style,
    pub app: Style,
    pub flags: Style,
    pub dim: Style,
    pub other: Style,
    pub warn: Style,
    pub heading: Style,
}

impl Palette {
    pub fn new(enabled: bool) -> Self {
        let c = |color: AnsiColor| {
            if enabled {
                Style::new().fg_color(Some(color.into()))
            } else {
                Style::new()
            }
        };
        let plain = |s: Style| if enabled { s } else { Style::new() };
        Palette {
            tcp: c(AnsiColor::Green),
            udp: c(AnsiColor::Blue),
            icmp: c(AnsiColor::Yellow),
            arp: c(AnsiColor::Cyan),
            dns: c(AnsiColor::Magenta),
            app: plain(Style::new().bold()),
            flags: c(AnsiColor::Red),
            dim: plain(Style::new().dimmed()),
            other: c(AnsiColor::White),
            warn: plain(Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold()),
            heading: plain(Style::new().bold().underline()),
        }
    }
}

/// Writes `text` with `style`, emitting nothing extra when the style is empty.
pub struct Painted<'a, T: fmt::Display>(pub Style, pub &'a T);

impl<T: fmt::Display> fmt::Display for Painted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == Style::new() {
            write!(f, "{}", self.1)
        } else {
            write!(f, "{}{}{}", self.0.render(), self.1, self.0.render_reset())
        }
    }
}

/// Packet-derived text (host names, paths, banners) shown safely: control characters and
/// escape sequences become `\xNN`, so a hostile packet cannot move the cursor or recolor the
/// terminal.
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for ch in self.0.chars() {
            if ch.is_control() {
                write!(f, "\\x{:02x}", u32::from(ch).min(0xff))?;
            } else {
                write!(f, "{ch}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_carry_escapes() {
        let s = Untrusted("evil\u{1b}[31mred\r\n").to_string();
        assert_eq!(s, "evil\\x1b[31mred\\x0d\\x0a");
    }

    #[test]
    fn plain_palette_writes_no_escape_codes() {
        let p = Palette::new(false);
        assert_eq!(Painted(p.tcp, &"TCP").to_string(), "TCP");
        let c = Palette::new(true);
        assert!(Painted(c.tcp, &"TCP").to_string().contains('\u{1b}'));
    }
}
