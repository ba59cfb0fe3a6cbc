//! `--jsonl FILE|-`: one JSON object per line as things happen — a flow record when a flow ends
//! (`"type":"flow"`, the same fields as `top_flows` in the JSON report), an alert when it is
//! first raised (`"type":"alert"`), and with
//! `--jsonl-packets` one line per packet (`"type":"packet"`, the fields of the `packets` table).
//! Lines go through a large buffer, flushed after each live batch and at the end, so `tail -f`
//! and `jq` see whole lines.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use serde::Serialize;
use wire::Packet;

use crate::capture::Frame;
use crate::engine::flow::FlowRecord;
use crate::store::PacketRow;
use crate::ui::console::put::AddrText;
use crate::ui::console::report::FlowJson;

pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
    /// Also one line per packet.
    packets: bool,
    /// Where lines go, for error messages.
    pub target: String,
}

#[derive(Serialize)]
struct PacketLine {
    #[serde(rename = "type")]
    kind: &'static str,
    ts: f64,
    src: Option<AddrText>,
    dst: Option<AddrText>,
    protocol: &'static str,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    length: u32,
    flags: Option<u8>,
    app: Option<&'static str>,
    iface: u32,
}

impl JsonlSink {
    /// Opens `target` (`-` is standard output), creating or truncating the file.
    pub fn open(target: &str, packets: bool) -> io::Result<JsonlSink> {
        let out: Box<dyn Write + Send> = if target == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(File::create(target)?)
        };
        Ok(JsonlSink {
            out: BufWriter::with_capacity(1 << 16, out),
            packets,
            target: if target == "-" {
                "standard output".into()
            } else {
                target.to_string()
            },
        })
    }

    pub fn wants_packets(&self) -> bool {
        self.packets
    }

    pub fn packet(&mut self, frame: &Frame<'_>, packet: &Packet<'_>) -> io::Result<()> {
        let row = PacketRow::new(frame, packet);
        let line = PacketLine {
            kind: "packet",
            ts: row.ts.as_secs_f64(),
            src: row.src.map(AddrText),
            dst: row.dst.map(AddrText),
            protocol: row.protocol,
            src_port: row.src_port,
            dst_port: row.dst_port,
            length: row.length,
            flags: row.flags,
            app: row.app,
            iface: frame.iface.0,
        };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    pub fn records(&mut self, records: &[FlowRecord]) -> io::Result<()> {
        for r in records {
            serde_json::to_writer(&mut self.out, &FlowJson::new(r, Some("flow")))?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// An alert when it is first raised (`"type":"alert"`, the fields of `alerts` in the JSON
    /// report); repeats are merged into it and show in the report, not as new lines.
    pub fn alert(&mut self, alert: &crate::alerts::Alert) -> io::Result<()> {
        let mut value = serde_json::to_value(alert)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("type".into(), "alert".into());
        }
        serde_json::to_writer(&mut self.out, &value)?;
        self.out.write_all(b"\n")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
