//! The README's headline table shows only numbers that the committed reports hold.
//!
//! The table is the block of `|` lines right after the line that starts with
//! `<!-- headline-table` in README.md. Its rows must be exactly [`ROWS`] (label and number of
//! linked numbers, in order), so a row cannot disappear unnoticed, and outside its first
//! column (the labels) every digit must be the text of a link `[NUMBER](PATH#FRAGMENT)`:
//!
//! * `PATH` is relative to the repository root and must exist;
//! * for a `.json` file, `FRAGMENT` is a JSON pointer (RFC 6901) into the file, e.g.
//!   `docs/results/fair-10000/sweep.json#/2/metrics/fid` is `metrics.fid` of the array's third
//!   element;
//! * for a `.jsonl` file (one JSON document a line), `FRAGMENT` is `L` and a 1-based line
//!   number followed by a JSON pointer into that line's document, e.g.
//!   `torch.jsonl#L3/median_s` is the field `median_s` of line 3;
//! * the value there must be a JSON number, and `NUMBER` must equal it rounded to as many
//!   decimals as `NUMBER` shows (`69.3` for 69.336; `260.6` for 260.6).
//!
//! No other link forms are accepted. Nothing is built or trained: the test reads text files.

use std::path::{Path, PathBuf};

/// The table's rows, in order: the first cell's text and how many linked numbers the row holds.
const ROWS: &[(&str, usize)] = &[
    ("FID ↓ at 20 NFE, 2 000 training steps (10 000 samples)", 2),
    ("FID ↓ at 100 NFE, 2 000 training steps (10 000 samples)", 2),
    ("FID ↓ at 20 NFE, 10 000 training steps (2 000 samples)", 2),
    ("FID ↓ at 100 NFE, 10 000 training steps (2 000 samples)", 2),
    ("Test likelihood ↓, bits/dim, 2 000 training steps", 4),
    ("Forward pass, same U-Net, batch 128, 2 threads", 2),
    ("Training step, same U-Net, batch 128, 2 threads", 2),
    ("Sampling 1 000 images at 20 NFE, same U-Net, 2 threads", 2),
    (
        "The main job above (`configs/w2.toml`, 2 000 steps), wall time",
        1,
    ),
];

/// Columns of every row: the label, W2 in gpfn, what it is compared with.
const COLUMNS: usize = 3;

const MARKER: &str = "<!-- headline-table";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// One `[text](target)` link in a cell.
struct Link<'a> {
    text: &'a str,
    target: &'a str,
}

/// The links of `cell` in order, and the cell's text with them cut out.
fn links(cell: &str) -> (Vec<Link<'_>>, String) {
    let mut found = Vec::new();
    let mut rest = String::new();
    let mut s = cell;
    while let Some(open) = s.find('[') {
        let Some(mid) = s[open..].find("](").map(|m| open + m) else {
            break;
        };
        let Some(close) = s[mid..].find(')').map(|c| mid + c) else {
            break;
        };
        rest.push_str(&s[..open]);
        found.push(Link {
            text: &s[open + 1..mid],
            target: &s[mid + 2..close],
        });
        s = &s[close + 1..];
    }
    rest.push_str(s);
    (found, rest)
}

/// The value a link's target names, or why there is none.
fn value_at(root: &Path, target: &str) -> Result<f64, String> {
    let (path, fragment) = target
        .split_once('#')
        .ok_or_else(|| format!("`{target}`: no `#` fragment naming the value"))?;
    let file = root.join(path);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("`{target}`: cannot read {}: {e}", file.display()))?;
    let (document, pointer) = if path.ends_with(".jsonl") {
        let rest = fragment
            .strip_prefix('L')
            .ok_or_else(|| format!("`{target}`: a .jsonl fragment starts with `L<line>`"))?;
        let digits = rest.find('/').unwrap_or(rest.len());
        let line: usize = rest[..digits]
            .parse()
            .map_err(|_| format!("`{target}`: no line number after `L`"))?;
        let content = text
            .lines()
            .nth(
                line.checked_sub(1)
                    .ok_or(format!("`{target}`: lines count from 1"))?,
            )
            .ok_or_else(|| format!("`{target}`: {path} has no line {line}"))?;
        (content.to_owned(), &rest[digits..])
    } else if path.ends_with(".json") {
        (text, fragment)
    } else {
        return Err(format!(
            "`{target}`: only .json and .jsonl reports are read"
        ));
    };
    let json: serde_json::Value =
        serde_json::from_str(&document).map_err(|e| format!("`{target}`: not JSON: {e}"))?;
    let value = json
        .pointer(pointer)
        .ok_or_else(|| format!("`{target}`: no value at pointer `{pointer}`"))?;
    value
        .as_f64()
        .ok_or_else(|| format!("`{target}`: the value at `{pointer}` is {value}, not a number"))
}

/// Whether `shown` is `value` rounded to `shown`'s decimals; `Err` says why not.
fn matches(shown: &str, value: f64) -> Result<(), String> {
    let plain = !shown.is_empty()
        && shown.chars().all(|c| c.is_ascii_digit() || c == '.')
        && shown.matches('.').count() <= 1
        && !shown.starts_with('.')
        && !shown.ends_with('.');
    if !plain {
        return Err(format!("`{shown}` is not a plain decimal number"));
    }
    let decimals = shown.split_once('.').map_or(0, |(_, d)| d.len());
    let rounded = format!("{value:.decimals$}");
    if rounded == shown {
        Ok(())
    } else {
        Err(format!(
            "shows {shown}, the report holds {value} ({rounded} to {decimals} decimals)"
        ))
    }
}

/// Every problem with the headline table of `readme`, whose links are relative to `root`.
fn check(readme: &str, root: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(start) = readme.lines().position(|l| l.starts_with(MARKER)) else {
        return vec![format!("README.md has no line starting with `{MARKER}`")];
    };
    let table: Vec<&str> = readme
        .lines()
        .skip(start + 1)
        .take_while(|l| l.starts_with('|'))
        .collect();
    if table.len() < 2 {
        return vec!["no table right after the marker".to_owned()];
    }
    let rows = &table[2..];
    let labels: Vec<&str> = rows
        .iter()
        .map(|r| r.split('|').nth(1).unwrap_or("").trim())
        .collect();
    let expected: Vec<&str> = ROWS.iter().map(|(label, _)| *label).collect();
    if labels != expected {
        errors.push(format!(
            "the table's rows are\n  {labels:#?}\nand should be\n  {expected:#?}"
        ));
    }
    for (row, &(_, count)) in rows.iter().zip(ROWS) {
        let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
        let cells: Vec<&str> = inner.split('|').map(str::trim).collect();
        if cells.len() != COLUMNS {
            errors.push(format!("`{row}`: {} cells, not {COLUMNS}", cells.len()));
            continue;
        }
        let mut numbers = 0;
        for cell in &cells[1..] {
            let (found, rest) = links(cell);
            if rest.chars().any(|c| c.is_ascii_digit()) {
                errors.push(format!("`{cell}`: a digit outside a checked link"));
            }
            for link in found {
                numbers += 1;
                if let Err(e) = value_at(root, link.target).and_then(|v| matches(link.text, v)) {
                    errors.push(format!("[{}]({}): {e}", link.text, link.target));
                }
            }
        }
        if numbers != count {
            errors.push(format!(
                "`{}`: {numbers} linked numbers, not {count}",
                cells[0]
            ));
        }
    }
    errors
}

fn readme() -> String {
    std::fs::read_to_string(workspace().join("README.md")).unwrap()
}

#[test]
fn every_number_in_the_headline_table_is_its_report_s() {
    let errors = check(&readme(), &workspace());
    assert!(
        errors.is_empty(),
        "README.md's headline table:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_check_catches_an_edited_number_a_missing_report_a_missing_field_and_a_lost_row() {
    let readme = readme();
    let root = workspace();
    let row = readme
        .lines()
        .skip_while(|l| !l.starts_with(MARKER))
        .nth(3)
        .expect("the table's first row")
        .to_owned();
    let (found, _) = links(row.split('|').nth(2).expect("the first row's W2 cell"));
    let link = &found[0];
    let (text, target) = (link.text, link.target);
    let original = format!("[{text}]({target})");
    let (path, fragment) = target.split_once('#').unwrap();
    let edits = [
        format!("[{text}9]({target})"),
        format!("[{text}]({path}.missing#{fragment})"),
        format!("[{text}]({path}#{fragment}-missing)"),
        format!("[{text}]({path})"),
        format!("{text} {original}"),
        format!("{original}, [{text}]({target})"),
    ];
    for edit in edits {
        let changed = readme.replacen(&original, &edit, 1);
        assert_ne!(changed, readme);
        assert!(
            !check(&changed, &root).is_empty(),
            "the check accepts the edit `{edit}`"
        );
    }
    let without_the_row: String = readme
        .lines()
        .filter(|l| *l != row)
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !check(&without_the_row, &root).is_empty(),
        "the check accepts a lost row"
    );
}

#[test]
fn rounding_follows_the_shown_decimals() {
    assert!(matches("69.3", 69.33599100253059).is_ok());
    assert!(matches("69.4", 69.33599100253059).is_err());
    assert!(matches("69.34", 69.33599100253059).is_ok());
    assert!(matches("260.6", 260.6).is_ok());
    assert!(matches("261", 260.6).is_ok());
    assert!(matches("1.74", 1.736514394362677).is_ok());
    assert!(matches("1,74", 1.736514394362677).is_err());
    assert!(matches("", 0.0).is_err());
}
