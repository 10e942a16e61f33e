//! The CLI reference (`docs/reference/cli.md`), generated from the binaries'
//! own clap `--help` output.
//!
//! Each binary is run with `--help` (and `<subcommand> --help` for every
//! subcommand it lists) with `COLUMNS` set very wide, so that clap prints one
//! line per option, which is parsed into a table: flag, value name, default,
//! environment variable, possible values and description.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// Environment variables cleared before running a binary, so that values
/// from the caller's environment never reach the page.
const CLEARED_ENV: [&str; 6] = [
    "MAAS_ENDPOINT",
    "MAAS_API_KEY",
    "MAAS_SIM_API_KEY",
    "MAAS_SIM_USER_API_KEY",
    "RUST_LOG",
    "LXD_SOCKET",
];

/// One option, positional argument or subcommand line of a help page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpEntry {
    /// `-h, --help` or `--namespace`, or the argument / subcommand name.
    pub flags: String,
    /// `<NAMESPACE>` (without the brackets), if the option takes a value.
    pub value: Option<String>,
    /// What the option does (the bracketed suffixes removed).
    pub description: String,
    /// `[default: ...]`
    pub default: Option<String>,
    /// `[env: ...]` (the variable name only).
    pub env: Option<String>,
    /// `[possible values: ...]`
    pub possible_values: Option<String>,
}

/// A parsed clap help page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelpPage {
    /// Text before `Usage:`.
    pub about: String,
    /// The usage line(s), without `Usage: `.
    pub usage: String,
    /// `Commands:` (without `help`).
    pub commands: Vec<HelpEntry>,
    /// `Arguments:`
    pub arguments: Vec<HelpEntry>,
    /// `Options:`
    pub options: Vec<HelpEntry>,
}

/// A command and its subcommands, as documented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandDoc {
    /// `capmaas-manager` or `capmaas-manager crd`.
    pub path: String,
    /// Its help page.
    pub page: HelpPage,
    /// Its subcommands.
    pub subcommands: Vec<CommandDoc>,
}

/// Splits a trailing `[key: value]` off `text` (brackets may nest, as in
/// `[default: [::]:8443]`).
fn split_suffix(text: &str) -> Option<(&str, &str, &str)> {
    let text = text.trim_end();
    if !text.ends_with(']') {
        return None;
    }
    let mut depth = 0usize;
    let mut open = None;
    for (i, c) in text.char_indices().rev() {
        match c {
            ']' => depth += 1,
            '[' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    open = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let open = open?;
    let inner = &text[open + 1..text.len() - 1];
    let (key, value) = inner.split_once(": ")?;
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == ' ') {
        return None;
    }
    Some((text[..open].trim_end(), key, value))
}

fn parse_entry(line: &str) -> HelpEntry {
    let line = line.trim();
    let (spec, rest) = match line.find("  ") {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    let (flags, value) = match spec.find(" <") {
        Some(i) if spec.ends_with('>') => (
            spec[..i].to_owned(),
            Some(spec[i + 2..spec.len() - 1].to_owned()),
        ),
        _ => (spec.to_owned(), None),
    };
    let mut entry = HelpEntry {
        flags,
        value,
        ..HelpEntry::default()
    };
    let mut description = rest;
    while let Some((before, key, value)) = split_suffix(description) {
        match key {
            "default" => entry.default = Some(value.to_owned()),
            "env" => entry.env = Some(value.split('=').next().unwrap_or(value).to_owned()),
            "possible values" => entry.possible_values = Some(value.to_owned()),
            _ => break,
        }
        description = before;
    }
    entry.description = description.to_owned();
    entry
}

/// Parses clap's default help layout (printed wide enough not to wrap).
#[must_use]
pub fn parse_help(text: &str) -> HelpPage {
    #[derive(PartialEq)]
    enum Section {
        About,
        Usage,
        Commands,
        Arguments,
        Options,
        Other,
    }
    let mut page = HelpPage::default();
    let mut section = Section::About;
    let mut about = Vec::new();
    let mut usage = Vec::new();
    for line in text.lines() {
        if let Some(u) = line.strip_prefix("Usage: ") {
            section = Section::Usage;
            usage.push(u.trim().to_owned());
            continue;
        }
        if !line.starts_with(' ') && line.ends_with(':') && !line.is_empty() {
            section = match line {
                "Commands:" => Section::Commands,
                "Arguments:" => Section::Arguments,
                "Options:" => Section::Options,
                _ => Section::Other,
            };
            continue;
        }
        match section {
            Section::About => about.push(line.trim_end()),
            Section::Usage if !line.trim().is_empty() => usage.push(line.trim().to_owned()),
            Section::Commands if !line.trim().is_empty() => {
                let e = parse_entry(line);
                if e.flags != "help" {
                    page.commands.push(e);
                }
            }
            Section::Arguments if !line.trim().is_empty() => page.arguments.push(parse_entry(line)),
            Section::Options if !line.trim().is_empty() => page.options.push(parse_entry(line)),
            _ => {}
        }
    }
    page.about = about.join("\n").trim().to_owned();
    page.usage = usage.join("\n");
    page
}

fn run_help(bin: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .arg("--help")
        .env("COLUMNS", "1000")
        .env("NO_COLOR", "1");
    for v in CLEARED_ENV {
        cmd.env_remove(v);
    }
    let shown = format!("{} {} --help", bin.display(), args.join(" "));
    let out = cmd.output().map_err(|e| Error::Command {
        command: shown.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: shown,
            message: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| Error::Command {
        command: shown,
        message: format!("output is not UTF-8: {e}"),
    })
}

/// Runs `bin --help` and the help of every subcommand, recursively.
///
/// # Errors
/// [`Error::Command`] when the binary cannot be run or fails.
pub fn collect(bin: &Path, name: &str) -> Result<CommandDoc> {
    fn walk(bin: &Path, name: &str, args: &mut Vec<String>) -> Result<CommandDoc> {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let page = parse_help(&run_help(bin, &argv)?);
        let mut subcommands = Vec::new();
        for c in &page.commands {
            args.push(c.flags.clone());
            subcommands.push(walk(bin, name, args)?);
            args.pop();
        }
        let path = std::iter::once(name.to_owned())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(CommandDoc {
            path,
            page,
            subcommands,
        })
    }
    walk(bin, name, &mut Vec::new())
}

/// Escapes text for a Markdown table cell: no HTML, no pipes, no emphasis.
/// Backtick code spans are kept (only `|` is escaped inside them); an
/// unbalanced backtick is shown literally.
#[must_use]
pub fn escape_cell(text: &str) -> String {
    let balanced = text.matches('`').count().is_multiple_of(2);
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' if balanced => {
                in_code = !in_code;
                out.push('`');
            }
            '`' => out.push_str("\\`"),
            '|' => out.push_str("\\|"),
            '\n' => out.push(' '),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '*' if !in_code => out.push_str("\\*"),
            c => out.push(c),
        }
    }
    out
}

/// A code span for a table cell (`|` stays escaped inside it).
fn code(text: &str) -> String {
    let text = text.replace('|', "\\|");
    if text.is_empty() {
        String::new()
    } else if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

fn render_command(doc: &CommandDoc, depth: usize, out: &mut String) {
    let hashes = "#".repeat(depth.min(6));
    out.push_str(&format!("{hashes} `{}`\n\n", doc.path));
    if !doc.page.about.is_empty() {
        out.push_str(&escape_cell(&doc.page.about).replace("  ", " "));
        out.push_str("\n\n");
    }
    out.push_str(&format!("```text\n{}\n```\n\n", doc.page.usage));
    if !doc.page.commands.is_empty() {
        out.push_str("| Command | Description |\n|---|---|\n");
        for c in &doc.page.commands {
            out.push_str(&format!(
                "| {} | {} |\n",
                code(&c.flags),
                escape_cell(&c.description)
            ));
        }
        out.push('\n');
    }
    if !doc.page.arguments.is_empty() {
        out.push_str("| Argument | Description |\n|---|---|\n");
        for a in &doc.page.arguments {
            out.push_str(&format!(
                "| {} | {} |\n",
                code(&a.flags),
                escape_cell(&a.description)
            ));
        }
        out.push('\n');
    }
    if !doc.page.options.is_empty() {
        out.push_str("| Option | Value | Default | Env | Description |\n|---|---|---|---|---|\n");
        for o in &doc.page.options {
            let mut description = escape_cell(&o.description);
            if let Some(values) = &o.possible_values {
                description.push_str(&format!(" (one of: {})", escape_cell(values)));
            }
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                code(&o.flags),
                o.value.as_deref().map(code).unwrap_or_default(),
                o.default.as_deref().map(code).unwrap_or_default(),
                o.env.as_deref().map(code).unwrap_or_default(),
                description
            ));
        }
        out.push('\n');
    }
    for s in &doc.subcommands {
        render_command(s, depth + 1, out);
    }
}

/// The whole page for the given commands.
#[must_use]
pub fn render(commands: &[CommandDoc]) -> String {
    let mut out = String::from(
        "# CLI reference\n\n\
         <!-- Generated by `make docs` from each binary's `--help` (clap). Do not edit: \
         crates/release-tests/tests/docs.rs fails when this page is stale. -->\n\n\
         Flags can also be given as `--flag=value`. Every binary exits with status 2 and \
         one line on stderr when a flag is wrong.\n\n",
    );
    for c in commands {
        render_command(c, 2, &mut out);
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "The manager.\n\nUsage: mgr [OPTIONS] [COMMAND]\n\nCommands:\n  crd   Print every CRD\n  help  Print this message or the help of the given subcommand(s)\n\nOptions:\n      --namespace <NAMESPACE>      Watch only this namespace (default: all)\n      --concurrency <CONCURRENCY>  Concurrent reconciles per kind [default: 10]\n      --maas-api-key <MAAS_API_KEY>  Default key [env: MAAS_API_KEY]\n      --maas-endpoint <MAAS_ENDPOINT>  Default endpoint [env: MAAS_ENDPOINT=]\n      --log-format <LOG_FORMAT>  Log format [default: text] [possible values: text, json]\n      --leader-elect  Hold a Lease\n  -h, --help  Print help\n";

    #[test]
    fn parses_sections_and_suffixes() {
        let page = parse_help(HELP);
        assert_eq!(page.about, "The manager.");
        assert_eq!(page.usage, "mgr [OPTIONS] [COMMAND]");
        assert_eq!(page.commands.len(), 1, "help is dropped");
        assert_eq!(page.commands[0].flags, "crd");
        assert_eq!(page.commands[0].description, "Print every CRD");
        let ns = &page.options[0];
        assert_eq!(ns.flags, "--namespace");
        assert_eq!(ns.value.as_deref(), Some("NAMESPACE"));
        assert_eq!(ns.description, "Watch only this namespace (default: all)");
        assert_eq!(ns.default, None);
        assert_eq!(page.options[1].default.as_deref(), Some("10"));
        assert_eq!(page.options[2].env.as_deref(), Some("MAAS_API_KEY"));
        assert_eq!(page.options[3].env.as_deref(), Some("MAAS_ENDPOINT"));
        let lf = &page.options[4];
        assert_eq!(lf.default.as_deref(), Some("text"));
        assert_eq!(lf.possible_values.as_deref(), Some("text, json"));
        assert_eq!(lf.description, "Log format");
        assert_eq!(page.options[5].value, None);
        assert_eq!(page.options[6].flags, "-h, --help");
    }

    #[test]
    fn renders_tables_with_escaped_cells() {
        let mut page = parse_help(HELP);
        page.options[0].description = "a|b <value> *x*".into();
        let doc = CommandDoc {
            path: "mgr".into(),
            page,
            subcommands: vec![],
        };
        let md = render(&[doc]);
        assert!(md.starts_with("# CLI reference\n"));
        assert!(md.contains("## `mgr`\n"));
        assert!(
            md.contains("| `--namespace` | `NAMESPACE` |  |  | a\\|b &lt;value&gt; \\*x\\* |"),
            "{md}"
        );
        assert!(md.contains(
            "| `--log-format` | `LOG_FORMAT` | `text` |  | Log format (one of: text, json) |"
        ));
        assert!(md.contains("| `crd` | Print every CRD |"));
        assert!(!md.ends_with("\n\n"));
    }

    #[test]
    fn code_spans_survive_escaping() {
        assert_eq!(escape_cell("a `<x>|y` <b>"), "a `<x>\\|y` &lt;b&gt;");
        assert_eq!(escape_cell("odd ` tick"), "odd \\` tick");
    }

    #[test]
    fn bracketed_text_inside_a_description_is_kept() {
        let e = parse_entry("  --x <V>  Uses [brackets] inside and [default: 1]");
        assert_eq!(e.description, "Uses [brackets] inside and");
        assert_eq!(e.default.as_deref(), Some("1"));
        let e = parse_entry("  --y  Ends with [a note]");
        assert_eq!(e.description, "Ends with [a note]");
        let e = parse_entry("  --https-address <ADDR>  Where [default: [::]:8443]");
        assert_eq!(e.default.as_deref(), Some("[::]:8443"));
        assert_eq!(e.description, "Where");
        let e = parse_entry("  --bridge-ipv4 <auto|none|CIDR>  IPv4");
        assert_eq!(code(e.value.as_deref().unwrap()), "`auto\\|none\\|CIDR`");
    }
}
