//! `watch`'s live view (ratatui + crossterm): per-phase sparklines with loss and jitter, the
//! verdict and first finding of the last full check, the current states, and the timeline.
//! Keys: q quit, p pause, r reset statistics, d details of the last full check, Up/Down
//! (PgUp/PgDn) scroll the timeline (or the details). The drawing ([`draw`]) is a function of
//! the model and the view state, tested on ratatui's `TestBackend`; [`run`] owns the terminal
//! and restores it on exit and on panic.

use super::{Engine, Msg, Plan};
use crate::history::{History, Level, SamplePhase, PHASES};
use crate::model::Exit;
use crate::render::Style as TextStyle;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline, Wrap};
use ratatui::Frame;
use std::io;

/// A key the view acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Quit,
    Pause,
    Reset,
    Details,
    Up,
    Down,
    PageUp,
    PageDown,
}

/// The key for a crossterm key event (`None`: not ours).
pub fn key_of(k: &crossterm::event::KeyEvent) -> Option<Key> {
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    if k.kind == KeyEventKind::Release {
        return None;
    }
    Some(match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => Key::Quit,
        KeyCode::Char('p') | KeyCode::Char(' ') => Key::Pause,
        KeyCode::Char('r') => Key::Reset,
        KeyCode::Char('d') | KeyCode::Enter => Key::Details,
        KeyCode::Up | KeyCode::Char('k') => Key::Up,
        KeyCode::Down | KeyCode::Char('j') => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        _ => return None,
    })
}

/// What the view shows besides the model.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub paused: bool,
    /// Timeline lines scrolled back from the newest (0: follow the newest).
    pub scroll: usize,
    pub details: bool,
    pub details_scroll: usize,
    pub color: bool,
    pub interval_s: f64,
}

impl View {
    /// Applies a key; returns false for quit.
    pub fn key(&mut self, k: Key, h: &mut History) -> bool {
        let step = |v: &mut usize, up: bool, n: usize| {
            *v = if up {
                v.saturating_add(n)
            } else {
                v.saturating_sub(n)
            }
        };
        match k {
            Key::Quit => return false,
            Key::Pause => self.paused = !self.paused,
            Key::Reset => h.reset_stats(),
            Key::Details => {
                self.details = !self.details;
                self.details_scroll = 0;
            }
            // In the details the keys move down the text; in the timeline, back in time.
            Key::Up if self.details => step(&mut self.details_scroll, false, 1),
            Key::Down if self.details => step(&mut self.details_scroll, true, 1),
            Key::PageUp if self.details => step(&mut self.details_scroll, false, 10),
            Key::PageDown if self.details => step(&mut self.details_scroll, true, 10),
            Key::Up => step(&mut self.scroll, true, 1),
            Key::Down => step(&mut self.scroll, false, 1),
            Key::PageUp => step(&mut self.scroll, true, 10),
            Key::PageDown => step(&mut self.scroll, false, 10),
        }
        let max = h.timeline().len().saturating_sub(1);
        self.scroll = self.scroll.min(max);
        true
    }
}

/// What [`draw`] needs besides the model.
pub struct Screen<'a> {
    pub label: &'a str,
    pub started_unix_ms: i64,
    pub details: &'a [String],
}

fn paint(view: &View, s: Style) -> Style {
    if view.color {
        s
    } else {
        Style::default()
    }
}

fn level_style(view: &View, l: Level) -> Style {
    paint(
        view,
        match l {
            Level::Ok => Style::default().fg(Color::Green),
            Level::Warning => Style::default().fg(Color::Yellow),
            Level::Critical => Style::default().fg(Color::Red),
        },
    )
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 1000.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "-".into(),
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, h: &History, view: &View, s: &Screen) {
    let area = f.area();
    let [head_r, state_r, phases_r, timeline_r, keys_r] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(2),
            Constraint::Length(5),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
    let bold = paint(view, Style::default().add_modifier(Modifier::BOLD));
    // 1. header
    let mut head = vec![
        Span::styled("rdp-doctor watch ", bold),
        Span::raw(s.label.to_string()),
        Span::raw(format!(
            "  every {}s  {} samples  {} full",
            view.interval_s, h.samples, h.fulls
        )),
    ];
    if view.paused {
        head.push(Span::styled(
            "  PAUSED",
            paint(view, Style::default().fg(Color::Yellow)).add_modifier(Modifier::BOLD),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(head)), head_r);
    // 2. verdict and states
    let verdict = match &h.full {
        Some(fs) => {
            let l = match fs.verdict {
                crate::model::Verdict::Healthy => Level::Ok,
                crate::model::Verdict::Degraded => Level::Warning,
                crate::model::Verdict::Failing => Level::Critical,
            };
            let mut v = vec![
                Span::raw("verdict: "),
                Span::styled(fs.verdict.as_str().to_uppercase(), level_style(view, l)),
            ];
            if let Some((id, title)) = &fs.first {
                v.push(Span::raw(format!("  {id}: {title}")));
            }
            Line::from(v)
        }
        None => Line::from("verdict: full check running..."),
    };
    let state = match &h.last {
        Some(last) => {
            let mut parts = vec![last.listener.describe().to_string()];
            if let Some(p) = &last.protocol {
                parts.push(p.clone());
            }
            if let Some(n) = last.nla {
                parts.push(if n { "NLA" } else { "no NLA" }.into());
            }
            if let Some(c) = &last.cert {
                parts.push(format!("cert {} ({} d)", c.short(), c.days_left));
            }
            let l = h.current.unwrap_or(Level::Ok);
            Line::from(vec![
                Span::raw("now: "),
                Span::styled(parts.join(" | "), level_style(view, l)),
            ])
        }
        None => Line::from("now: first sample running..."),
    };
    f.render_widget(Paragraph::new(vec![verdict, state]), state_r);
    // 3. phases
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" latency ms: last avg loss jitter ");
    let inner = block.inner(phases_r);
    f.render_widget(block, phases_r);
    let lines: [Rect; 3] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(1); 3])
        .areas(inner);
    for (p, r) in PHASES.iter().zip(lines) {
        phase_row(f, h, view, *p, r);
    }
    // 4. timeline
    let block = Block::default()
        .borders(Borders::ALL)
        .title(if view.scroll > 0 {
            format!(" timeline (UTC), {} back ", view.scroll)
        } else {
            " timeline (UTC) ".to_string()
        });
    let inner = block.inner(timeline_r);
    f.render_widget(block, timeline_r);
    let now = h.now_ms();
    let total = h.timeline().len();
    let end = total.saturating_sub(view.scroll);
    let start = end.saturating_sub(usize::from(inner.height));
    let tl: Vec<Line> = h
        .timeline()
        .skip(start)
        .take(end - start)
        .map(|c| {
            let text =
                super::summary::timeline_line(c, s.started_unix_ms, now, usize::from(inner.width));
            Line::styled(text, level_style(view, c.level))
        })
        .collect();
    f.render_widget(Paragraph::new(tl), inner);
    // 5. keys
    f.render_widget(
        Paragraph::new("q quit  p pause  r reset  d details  Up/Down scroll"),
        keys_r,
    );
    if view.details {
        details(f, view, s, area);
    }
}

fn phase_row(f: &mut Frame, h: &History, view: &View, p: SamplePhase, r: Rect) {
    let st = h.stats(p);
    let text = format!(
        "{:<5}{:>7}{:>7}{:>6.1}%{:>6}",
        p.as_str(),
        ms(st.last),
        ms(st.avg()),
        st.loss_pct(),
        ms(st.jitter()),
    );
    let [stats_r, spark_r] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(33), Constraint::Min(0)])
        .areas(r);
    let loss_style = if st.loss_pct() > 0.0 {
        level_style(view, Level::Warning)
    } else {
        Style::default()
    };
    f.render_widget(Paragraph::new(Span::styled(text, loss_style)), stats_r);
    if let Some(area) = Some(spark_r).filter(|a| a.width > 0) {
        let n = usize::from(area.width);
        let recent: Vec<Option<u64>> = st
            .recent
            .iter()
            .rev()
            .take(n)
            .rev()
            // Microseconds, so that sub-millisecond loopback times still have a shape.
            .map(|v| v.map(|x| (x * 1000.0).max(1.0) as u64))
            .collect();
        let spark = Sparkline::default()
            .data(recent)
            .style(paint(view, Style::default().fg(Color::Cyan)))
            .absent_value_symbol("x")
            .absent_value_style(paint(view, Style::default().fg(Color::Red)));
        f.render_widget(spark, area);
    }
}

fn details(f: &mut Frame, view: &View, s: &Screen, area: Rect) {
    let r = Rect {
        x: area.x + area.width / 20,
        y: area.y + 1,
        width: area.width - area.width / 10,
        height: area.height.saturating_sub(2),
    }
    .intersection(area);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" last full check (d closes) ");
    let inner = block.inner(r);
    f.render_widget(block, r);
    let lines: Vec<Line> = if s.details.is_empty() {
        vec![Line::from("no full check has finished yet")]
    } else {
        s.details
            .iter()
            .skip(view.details_scroll)
            .take(usize::from(inner.height))
            .map(|l| Line::from(l.as_str()))
            .collect()
    };
    // Long lines wrap (the report is rendered for 80 columns, the box is narrower).
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// Puts the terminal back: raw mode off, the main screen, the cursor shown.
fn restore() -> io::Result<()> {
    crossterm::terminal::disable_raw_mode()?;
    crossterm::execute!(
        io::stdout(),
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    )
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = restore();
    }
}

/// Runs the live view until q (or Ctrl-C); the exit status is the worst state seen.
pub fn run(rt: &tokio::runtime::Runtime, plan: Plan, style: TextStyle) -> io::Result<Exit> {
    use ratatui::backend::CrosstermBackend;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore();
        previous(info);
    }));
    crossterm::terminal::enable_raw_mode()?;
    let _restore = Restore;
    crossterm::execute!(
        io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )?;
    let mut term = ratatui::Terminal::new(CrosstermBackend::new(io::stdout()))?;
    term.clear()?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let keys = tx.clone();
    // crossterm's read blocks: a thread of its own, feeding the loop.
    std::thread::spawn(move || loop {
        use crossterm::event::Event;
        let msg = match crossterm::event::read() {
            Ok(Event::Key(k)) => match key_of(&k) {
                Some(k) => Msg::Key(k),
                None => continue,
            },
            Ok(Event::Resize(..)) => Msg::Redraw,
            Ok(_) => continue,
            Err(_) => break,
        };
        if keys.blocking_send(msg).is_err() {
            break;
        }
    });
    // SIGTERM and SIGHUP (the terminal closed) end the view like q, so the terminal is
    // restored; in raw mode Ctrl-C is a key, not a signal.
    #[cfg(unix)]
    {
        let stop = tx.clone();
        rt.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            let _ = stop.send(Msg::Interrupt).await;
        });
    }
    let view = View {
        color: style.color,
        interval_s: plan.interval.as_secs_f64(),
        ..View::default()
    };
    rt.block_on(live(&mut term, Engine::new(plan, tx), view, rx))
}

async fn live<B: ratatui::backend::Backend>(
    term: &mut ratatui::Terminal<B>,
    mut e: Engine,
    mut view: View,
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
) -> io::Result<Exit> {
    loop {
        let label = e.plan.label.clone();
        term.draw(|f| {
            let screen = Screen {
                label: &label,
                started_unix_ms: e.started_unix_ms,
                details: &e.details,
            };
            draw(f, &e.history, &view, &screen)
        })?;
        let next = e.start_due(view.paused);
        let msg = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep_until(next) => continue,
        };
        match msg {
            None | Some(Msg::Interrupt) => break,
            Some(Msg::Key(k)) => {
                if !view.key(k, &mut e.history) {
                    break;
                }
            }
            Some(Msg::Redraw) => term.autoresize()?,
            Some(m) => {
                e.absorb(m);
            }
        }
    }
    Ok(e.history.exit_worst())
}

#[cfg(test)]
mod tests;
