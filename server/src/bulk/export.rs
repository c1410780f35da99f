//! Formula-safe CSV output of inventories, and the CSV template.

use std::io::{self, Write};

use super::*;

// ---------------------------------------------------------------------------------------------
// CSV output

/// A cell made safe for spreadsheets: a value starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'` so that it is never evaluated as a formula.
pub fn safe_cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => std::borrow::Cow::Owned(format!("'{value}")),
        _ => std::borrow::Cow::Borrowed(value),
    }
}

/// Writes CSV rows of devices: the template columns, then one column per attribute name.
pub struct CsvOut<W: Write> {
    writer: csv::Writer<W>,
    attributes: Vec<String>,
}

impl<W: Write> CsvOut<W> {
    /// Starts the file with its header.
    pub fn new(out: W, attributes: Vec<String>) -> io::Result<Self> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        let mut header: Vec<std::borrow::Cow<'_, str>> = TEMPLATE_COLUMNS
            .iter()
            .map(|c| std::borrow::Cow::Borrowed(*c))
            .collect();
        header.extend(attributes.iter().map(|a| safe_cell(a)));
        writer.write_record(header.iter().map(|c| c.as_bytes()))?;
        Ok(Self { writer, attributes })
    }

    /// One device.
    pub fn device(&mut self, d: &DeviceRow) -> io::Result<()> {
        let imei = d.imei.map(format_imei).unwrap_or_default();
        let serial = safe_cell(d.serial.as_deref().unwrap_or(""));
        let manufacturer = safe_cell(d.manufacturer.as_deref().unwrap_or(""));
        let mut row: Vec<std::borrow::Cow<'_, str>> =
            vec![std::borrow::Cow::Borrowed(&imei), serial, manufacturer];
        for name in &self.attributes {
            row.push(safe_cell(d.attributes.get(name).map_or("", String::as_str)));
        }
        self.writer.write_record(row.iter().map(|c| c.as_bytes()))?;
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(self) -> io::Result<W> {
        self.writer
            .into_inner()
            .map_err(|e| io::Error::other(e.error().to_string()))
    }
}

/// The CSV template: the header line.
pub fn template() -> Vec<u8> {
    format!("{}\r\n", TEMPLATE_COLUMNS.join(",")).into_bytes()
}
