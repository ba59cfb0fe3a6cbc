//! Interactive set-up when netlens starts on a terminal without a source: pick the interface
//! (listed with addresses), the filter (a preset or a custom expression) and the display mode.

use dialoguer::{theme::ColorfulTheme, Input, Select};

use crate::capture::filter::{self, Preset};
use crate::capture::interfaces;
use crate::cli::Cli;
use crate::ui::console::printer::Mode;

/// Asks the questions and fills `cli` with the answers.
pub fn run(cli: &mut Cli) -> anyhow::Result<()> {
    let theme = ColorfulTheme::default();
    let devices = interfaces::list()?;
    if devices.is_empty() {
        anyhow::bail!("no capture interfaces found; run as root or check libpcap");
    }
    let labels: Vec<String> = interfaces::describe(&devices)
        .lines()
        .map(str::to_string)
        .collect();
    let pick = Select::with_theme(&theme)
        .with_prompt("Interface to capture on")
        .items(&labels)
        .default(0)
        .interact()?;
    if let Some(d) = devices.get(pick) {
        cli.interfaces = vec![d.name.clone()];
    }

    let presets = [
        ("no filter: everything", None),
        ("tcp", Some(Preset::Tcp)),
        ("udp", Some(Preset::Udp)),
        ("icmp", Some(Preset::Icmp)),
        ("web (tcp port 80 or 443)", Some(Preset::Web)),
        ("dns (port 53)", Some(Preset::Dns)),
        ("custom BPF expression...", None),
    ];
    let labels: Vec<&str> = presets.iter().map(|(l, _)| *l).collect();
    let choice = Select::with_theme(&theme)
        .with_prompt("Filter")
        .items(&labels)
        .default(0)
        .interact()?;
    match presets.get(choice) {
        Some((_, Some(p))) => cli.preset = vec![*p],
        Some((_, None)) if choice + 1 == presets.len() => {
            let expr: String = Input::with_theme(&theme)
                .with_prompt("BPF expression (tcpdump syntax)")
                .validate_with(|s: &String| -> Result<(), String> {
                    filter::FileFilter::new(s)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
                .interact_text()?;
            cli.expression = vec![expr];
        }
        _ => {}
    }

    let modes = [
        ("compact: one line per packet", Mode::Compact),
        (
            "detailed: with header fields and payload hex",
            Mode::Detailed,
        ),
        ("minimal: time, protocol, endpoints", Mode::Minimal),
    ];
    let labels: Vec<&str> = modes.iter().map(|(l, _)| *l).collect();
    let m = Select::with_theme(&theme)
        .with_prompt("Display mode")
        .items(&labels)
        .default(0)
        .interact()?;
    if let Some((_, mode)) = modes.get(m) {
        cli.mode = *mode;
    }
    Ok(())
}
