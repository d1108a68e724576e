//! Renderers: a report to any `Write`. Human text (with colour when asked), JSON, the
//! Nagios/Icinga plugin line, and the self-contained HTML page (`html`; `zip` packs the
//! support bundle).

pub mod fit;
pub mod html;
pub mod human;
pub mod nagios;
pub mod zip;

use crate::report::Report;
use std::io::{self, Write};

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Nagios,
}

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
}

pub fn json(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    crate::sanitize::to_writer_pretty(&mut *w, report)?;
    writeln!(w)
}

pub fn render(report: &Report, format: Format, style: Style, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => human::render(report, style, w),
        Format::Json => json(report, w),
        Format::Nagios => nagios::render(report, w),
    }
}
