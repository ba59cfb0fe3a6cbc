//! `netlens export --db FILE --table T --format csv|jsonl`: one table of the history, oldest
//! first, to stdout or `-o FILE`. CSV has a header row; JSON lines have one object per row with
//! numbers as numbers and NULL as null (an alert's `evidence` is embedded as JSON). The fields
//! are the default set of [`query::export_sql`]: the row's time as RFC 3339, then the stored
//! columns. Rows stream from SQLite to the output: memory stays flat on any table size.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rusqlite::params;
use rusqlite::types::ValueRef;

use super::{db_error, open, write_error, Failure, RangeArgs};
use crate::store::query::{self, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ExportFormat {
    #[default]
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub range: RangeArgs,

    /// The table to write.
    #[arg(long, value_enum, value_name = "TABLE")]
    pub table: Table,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv, value_name = "FORMAT")]
    pub format: ExportFormat,

    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: &ExportArgs) -> Result<(), Failure> {
    if args.range.host.is_some() && matches!(args.table, Table::Traffic | Table::Captures) {
        return Err(Failure::Usage(format!(
            "--host does not apply to --table {}: it has no addresses",
            match args.table {
                Table::Traffic => "traffic",
                _ => "captures",
            }
        )));
    }
    let (conn, f) = open(&args.range)?;
    let err = db_error(&args.range.db);
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", path.display())))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut st = conn.prepare(query::export_sql(args.table)).map_err(&err)?;
    let names: Vec<String> = st.column_names().map(str::to_string).collect();
    let mut rows = st.query(params![f.lo(), f.hi(), f.host]).map_err(&err)?;
    let result = match args.format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            let mut record = csv::ByteRecord::new();
            let mut written = w.write_record(&names).map_err(csv_io);
            while written.is_ok() {
                let Some(row) = rows.next().map_err(&err)? else {
                    break;
                };
                record.clear();
                for i in 0..names.len() {
                    let v = row.get_ref(i).map_err(&err)?;
                    match v {
                        ValueRef::Null => record.push_field(b""),
                        ValueRef::Integer(n) => record.push_field(n.to_string().as_bytes()),
                        ValueRef::Real(x) => record.push_field(x.to_string().as_bytes()),
                        ValueRef::Text(t) | ValueRef::Blob(t) => record.push_field(t),
                    }
                }
                written = w.write_byte_record(&record).map_err(csv_io);
            }
            written.and_then(|()| w.flush())
        }
        ExportFormat::Jsonl => {
            let mut written = Ok(());
            while written.is_ok() {
                let Some(row) = rows.next().map_err(&err)? else {
                    break;
                };
                let mut obj = serde_json::Map::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let v = row.get_ref(i).map_err(&err)?;
                    obj.insert(name.clone(), json_value(name, v));
                }
                written = serde_json::to_writer(&mut out, &obj)
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
            }
            written
        }
    };
    result.and_then(|()| out.flush()).or_else(write_error)
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

fn json_value(column: &str, v: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => n.into(),
        ValueRef::Real(x) => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            if column == "evidence" {
                if let Ok(v) = serde_json::from_str(&s) {
                    return v;
                }
            }
            Value::String(s.into_owned())
        }
        ValueRef::Blob(b) => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    }
}
